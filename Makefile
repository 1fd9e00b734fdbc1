# medsettle — the two commands that matter on a fresh Debian machine with Rust:
#   make demo   the daemon on built-in defaults (simulated devices, sandbox insurer, ./var)
#   make test   the whole test suite
# Both run scripts/bootstrap first, which installs the Debian packages the project needs.

CARGO ?= cargo
DEMO_ARGS ?=

.PHONY: demo test fuzz-smoke fuzz bench lint fmt bootstrap build release clean deb package-test

bootstrap:
	scripts/bootstrap

build: bootstrap
	$(CARGO) build --workspace

release: bootstrap
	$(CARGO) build --release --workspace

demo: bootstrap
	$(CARGO) run --release --bin medsettle -- demo $(DEMO_ARGS)

test: bootstrap
	$(CARGO) test --workspace
	scripts/package-test
	$(MAKE) fuzz-smoke

# The Debian packages (release builds, with the live camera) for amd64 and arm64, both in
# $(DEB_DIR); arm64 is cross-compiled with Debian's aarch64 toolchain (scripts/bootstrap,
# .cargo/config.toml). cargo-deb is installed if missing.
DEB_DIR ?= $(or $(CARGO_TARGET_DIR),target)/debian
deb: bootstrap
	@command -v cargo-deb >/dev/null 2>&1 || $(CARGO) install --locked cargo-deb
	$(CARGO) deb -p medsettle-daemon -o $(DEB_DIR)/
	$(CARGO) deb -p medsettle-daemon --target aarch64-unknown-linux-gnu -o $(DEB_DIR)/
	@ls -l $(DEB_DIR)/*.deb

# Build, install, run under the sandbox, upgrade, remove and purge the package (root or sudo).
package-test: bootstrap
	scripts/package-test

# Every libFuzzer target for a few seconds (scripts/fuzz; installs cargo-fuzz if missing).
FUZZ_SECONDS ?= 10
# Unoptimised (FUZZ_PROFILE=dev): the build is what costs time here, not the 10 s runs.
fuzz-smoke:
	FUZZ_PROFILE=dev scripts/fuzz $(FUZZ_SECONDS)

# The longer run recorded in benches/README.md.
fuzz:
	scripts/fuzz 300

bench: bootstrap
	$(CARGO) bench --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p medsettle-camera -p medsettle-daemon --features v4l --all-targets -- -D warnings
	$(CARGO) clippy -p medsettle-daemon --no-default-features --lib --bins -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
