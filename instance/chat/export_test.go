package chat

import "github.com/google/uuid"

// SetBeforeJoin installs f as Serve's hook before a socket joins its room (nil: none).
func SetBeforeJoin(f func(room uuid.UUID)) {
	if f == nil {
		beforeJoin.Store(nil)
		return
	}
	beforeJoin.Store(&f)
}
