// Package nginx holds the production nginx config of a Weltgewebe instance with livestreams,
// embedded so that the binary renders its own ingest from the same file operators install
// (internal/nginxrtmp) and the tests run it.
package nginx

import _ "embed"

// Config is weltgewebe.conf as shipped.
//
//go:embed weltgewebe.conf
var Config string
