// Package output delivers detector alerts: text or JSON lines to a writer or
// stdout, a file, an HTTP endpoint in the shape falcosidekick accepts, and a
// long-running program's stdin. A Dispatcher fans one alert out to several
// outputs and collapses repeated identical alerts (Dedup).
//
// # Never blocking the engine
//
// Every output is asynchronous: Send puts the alert on a bounded queue and
// returns at once; one goroutine per output delivers. When the queue is full
// the alert is dropped and counted (Stats().Dropped and the Recorder's
// sysward_output_drops_total{output}). "Dropped" means not delivered for any
// reason: queue full, retries exhausted, or still queued at the close
// deadline. Each failed delivery attempt is an error
// (sysward_output_errors_total); an HTTP alert that succeeds on its third try
// counts two errors and one sent.
//
// # Ownership
//
// After Send the alert belongs to the outputs: it is shared read-only
// between them and must not be modified by the caller. Dispatcher.Send may
// fill in an empty Hostname before fanning out.
//
// # Lifetime
//
// Constructors start the delivery goroutine (and, for Program, the program).
// Close(ctx) stops accepting alerts, delivers what is queued until ctx's
// deadline, counts the rest as dropped, releases the resource (file, program,
// idle connections) and returns ErrFlushTimeout (wrapped) if alerts were left
// undelivered. Close is idempotent; Send after Close drops and counts.
// Writers given to NewWriter are flushed but not closed.
//
// # Threading
//
// Send, Stats and Close are safe for concurrent use. Writes to one output are
// in Send order (one delivery goroutine per output).
//
// # Errors
//
// Constructors return errors wrapping ErrBadConfig for bad configuration
// (ParseConfig names the file, line, column and field). Delivery errors are
// not returned to Send's caller: they are counted and logged through
// Options.Logger, at most once per second per output.
package output
