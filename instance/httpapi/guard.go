package httpapi

import (
	"net/http"
	"net/url"
	"slices"

	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/respond"
)

// guard is what every request passes before it is routed: the refusal of cross-site writes,
// and of a path or query that is not text.
//
// Cross-site writes. The session cookie is SameSite=Lax, but "site" is the registrable domain:
// a page on any other host under it (another Ortsweberei on a sibling subdomain, a student's
// page on a university domain) is same-site, and its forms post with our cookie. And a POST
// without a body needs no JSON, so no CORS pre-flight stops it. So every request that may change
// something (anything but GET, HEAD and OPTIONS), whatever its body, must come from our own
// origin: a browser says where a request comes from in Sec-Fetch-Site (all browsers since 2023)
// and Origin (on every cross-origin POST, PUT, PATCH and DELETE), and net/http's
// CrossOriginProtection compares them with the Host the request was sent to — behind the TLS
// proxy that is the public host, which deploy/nginx/weltgewebe.conf passes on (proxy_set_header Host).
// The configured public URL is trusted as well, for a proxy that does not pass the Host.
//
// A request that carries neither header does not come from a browser (curl, scripts, other
// servers): it is let through. Such a client holds the cookie itself and sends only what it
// means to; no browser sends a cross-origin write without at least one of the two.
//
// The WebSockets are GETs: the protection lets them pass, and coder/websocket refuses a
// handshake whose Origin is not our Host on its own. Neither reads the session cookie.
func (s *Server) guard(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	if u, err := url.Parse(s.PublicURL); err == nil && u.Scheme != "" && u.Host != "" {
		if err := cop.AddTrustedOrigin(u.Scheme + "://" + u.Host); err != nil {
			s.Log.Warn("public URL is not an origin; cross-site checks use the Host alone", "url", s.PublicURL, "err", err)
		}
	}
	// The ActivityPub inboxes take POSTs from other servers, authenticated by their HTTP
	// signature, never by a cookie: a forged cross-site one gains nothing, and a sender that
	// adds an Origin of its own must still be heard.
	cop.AddInsecureBypassPattern("POST /ap/")
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		respond.Error(w, r, s.Log, errCrossOrigin)
	}))
	return cop.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := checkURL(r.URL); err != nil {
			respond.Error(w, r, s.Log, err)
			return
		}
		next.ServeHTTP(w, r)
	}))
}

var errCrossOrigin = fault.Forbiddenf("cross_origin_request",
	"This request comes from another site; changes are taken only from this instance's own pages (or from clients that are not browsers).")

// routeMux notes every pattern registered on it, so that a test can walk every route (the
// federation's, registered on the ServeMux itself, are its own).
type routeMux struct {
	*http.ServeMux
	patterns []string
}

func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.patterns = append(m.patterns, pattern)
	m.ServeMux.Handle(pattern, h)
}

func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// Routes lists the patterns the server registered itself.
func (s *Server) Routes() []string { return slices.Clone(s.mux.patterns) }
