// Package transport is the HTTP client for everything the instance fetches from or delivers
// to other servers, built so that a URL chosen by a stranger cannot be turned against the
// instance's own network (server-side request forgery).
//
// Federation means following URLs we did not choose: an actor's inbox, a keyId, an object
// id in an activity anyone may post to us. Left unguarded, "fetch https://10.0.0.5/admin"
// or a name that resolves to 127.0.0.1 would make this server probe its own database,
// cloud metadata service (169.254.169.254) or router on the sender's behalf.
//
// The guard therefore runs where the address is finally known: at dial time, on every IP
// the resolver returned, so a name that resolves to a public address for the check and to
// a private one for the connection (DNS rebinding) gains nothing. Each redirect hop is
// checked again, for its scheme and its address, and proxies from the environment are
// ignored, because through a proxy the dialer would only ever see the proxy's address.
//
// Exceptions are explicit and narrow: Options.AllowHosts for named peers on a private
// network, Options.AllowLoopback for development and tests, Options.AllowHTTP for peers
// without TLS. Nothing is allowed by default except public addresses over HTTPS.
package transport
