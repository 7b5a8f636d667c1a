package main

import "fmt"

// exitStatus carries an exit code other than 1 out of a command.
type exitStatus struct {
	code int
	err  error // printed if non-nil
}

func (e *exitStatus) Error() string {
	if e.err != nil {
		return e.err.Error()
	}
	return fmt.Sprintf("exit status %d", e.code)
}

func (e *exitStatus) Unwrap() error { return e.err }

// usageErr marks err as bad usage or bad input: exit status 2.
func usageErr(err error) error {
	if err == nil {
		return nil
	}
	return &exitStatus{code: 2, err: err}
}

// usagef is usageErr(fmt.Errorf(...)).
func usagef(format string, args ...any) error { return usageErr(fmt.Errorf(format, args...)) }

// commandStatus returns the wrapped command's own exit status, silently.
func commandStatus(code int) error {
	if code == 0 {
		return nil
	}
	return &exitStatus{code: code}
}
