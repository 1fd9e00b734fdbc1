//! Errors of the PC/SC boundary, and the mapping of PC/SC error codes onto the core's
//! [`TransportError`]. No other module interprets `pcsc::Error`.

use std::time::Duration;

use medsettle_card::TransportError;

/// Why `with_card` produced no result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PcscError {
    /// No card appeared on a suitable slot before the timeout.
    #[error("no card presented within {0:?}")]
    NoCard(Duration),
    /// The named reader did not exist during the whole wait.
    #[error("unknown reader: {0}")]
    UnknownReader(String),
    /// Connecting to the card or starting the transaction failed.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The reader thread has stopped (`shutdown` was called).
    #[error("reader thread stopped")]
    Shutdown,
    /// The job ended without a reply (the closure panicked).
    #[error("card job aborted")]
    Aborted,
}

impl PcscError {
    /// Whether trying the same request again later can succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            PcscError::NoCard(_) | PcscError::UnknownReader(_) => true,
            PcscError::Transport(t) => !matches!(t, TransportError::Other(_)),
            PcscError::Shutdown | PcscError::Aborted => false,
        }
    }

    /// The same failure as the core's transport error.
    pub fn to_transport_error(&self) -> TransportError {
        match self {
            PcscError::Transport(t) => t.clone(),
            PcscError::NoCard(_) => TransportError::CardRemoved,
            PcscError::UnknownReader(r) => TransportError::ReaderGone(r.clone()),
            PcscError::Shutdown | PcscError::Aborted => TransportError::Other(self.to_string()),
        }
    }
}

/// Maps a PC/SC error code onto the core's transport error.
pub fn map_error(e: pcsc::Error) -> TransportError {
    use pcsc::Error as E;
    match e {
        E::RemovedCard | E::NoSmartcard => TransportError::CardRemoved,
        E::ResetCard => TransportError::CardReset,
        E::NoService | E::ServiceStopped => TransportError::ServiceGone,
        E::ReaderUnavailable | E::UnknownReader => TransportError::ReaderGone(e.to_string()),
        E::Timeout => TransportError::Timeout,
        other => TransportError::Other(other.to_string()),
    }
}

/// Errors after which the PC/SC context must be thrown away and established again.
pub(crate) fn context_is_dead(e: pcsc::Error) -> bool {
    matches!(
        e,
        pcsc::Error::NoService
            | pcsc::Error::ServiceStopped
            | pcsc::Error::InvalidHandle
            | pcsc::Error::CommError
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mapping() {
        assert_eq!(
            map_error(pcsc::Error::RemovedCard),
            TransportError::CardRemoved
        );
        assert_eq!(map_error(pcsc::Error::ResetCard), TransportError::CardReset);
        assert_eq!(
            map_error(pcsc::Error::NoService),
            TransportError::ServiceGone
        );
        assert_eq!(
            map_error(pcsc::Error::ServiceStopped),
            TransportError::ServiceGone
        );
        assert!(matches!(
            map_error(pcsc::Error::ReaderUnavailable),
            TransportError::ReaderGone(_)
        ));
        assert!(matches!(
            map_error(pcsc::Error::InvalidAtr),
            TransportError::Other(_)
        ));
        assert!(PcscError::Transport(TransportError::CardRemoved).is_retryable());
        assert!(!PcscError::Shutdown.is_retryable());
    }
}
