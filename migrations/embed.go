// Package migrations holds the database schema as ordered SQL files, embedded into the binary
// and applied by `weltgewebe migrate` and at the start of `weltgewebe serve`.
//
// Each file belongs to the domain package that owns its tables; the file name says which.
// Files are never edited once released: a change is a new file.
package migrations

import "embed"

// FS holds the goose-formatted SQL migrations.
//
//go:embed *.sql
var FS embed.FS
