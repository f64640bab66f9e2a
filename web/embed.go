// Package web is the resident-facing web app, embedded into the binary and served at /.
//
// Until the map app lands (see the live-map issue), this is a small page that says what the
// instance is and where its API is.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the web app.
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err)
	}
	return http.FileServerFS(sub)
}
