package httpapi

import (
	"crypto/sha256"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/fault"
	"github.com/weltgewebe/weltgewebe/instance/geo"
	"github.com/weltgewebe/weltgewebe/instance/respond"
	"github.com/weltgewebe/weltgewebe/instance/wire"
)

const sessionCookie = "wg_session"

// deviceCookie holds the device token of a client that logged in before (account.Session's
// Device). It goes to the login alone (its path) and is nothing a session could be opened
// with; logout leaves it, so that the resident's device stays one the address knows.
const (
	deviceCookie     = "wg_device"
	deviceCookiePath = "/api/auth/login"
)

type authedFunc func(http.ResponseWriter, *http.Request, account.Account) error

// authed runs h with the session's account, or answers 401.
func (s *Server) authed(h authedFunc) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		c, err := r.Cookie(sessionCookie)
		if err != nil {
			return fault.ErrUnauthenticated
		}
		me, err := s.Accounts.Authenticate(r.Context(), c.Value)
		if err != nil {
			return err
		}
		if class := accountClass(r); class != "" {
			if err := s.limits.allow(class, PerAccount, me.ID.String()); err != nil {
				return err
			}
		}
		// A suspended or banned account changes nothing, but may still appeal (docs/MODERATION.md);
		// logging out is not authed. Nor does it read what only its role lets it read (the
		// queue with its reporters, the residents, the blocks): a sanctioned moderator or admin
		// keeps the role until an admin takes it, not its powers.
		read := r.Method == http.MethodGet || r.Method == http.MethodHead
		if (!read || strings.HasPrefix(r.URL.Path, "/api/admin/")) && !mayWriteWhileSanctioned[r.Pattern] {
			if err := s.Accounts.MayWrite(me); err != nil {
				return err
			}
		}
		return h(w, r, me)
	}
}

// mayWriteWhileSanctioned are the routes a suspended or banned account may still post to.
var mayWriteWhileSanctioned = map[string]bool{"POST /api/moderation/log/{id}/appeal": true}

// viewer is the session's account id on a public read, or uuid.Nil for anyone else: an
// author is shown their own hidden content there, marked (docs/MODERATION.md).
func (s *Server) viewer(r *http.Request) (uuid.UUID, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return uuid.Nil, nil
	}
	me, err := s.Accounts.Authenticate(r.Context(), c.Value)
	if errors.Is(err, fault.ErrUnauthenticated) {
		return uuid.Nil, nil
	}
	if err != nil {
		return uuid.Nil, err
	}
	return me.ID, nil
}

func (s *Server) secure(r *http.Request) bool {
	return s.SecureCookies || r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https"
}

// Views.

type pointJSON = wire.Point

func pointView(p *geo.Point) *pointJSON { return wire.PointOf(p) }

type profileJSON struct {
	ID        uuid.UUID  `json:"id"`
	Handle    string     `json:"handle"`
	Name      string     `json:"name"`
	Position  *pointJSON `json:"position"`
	Verified  bool       `json:"verified"`
	CreatedAt time.Time  `json:"created_at"`
	Roles     []string   `json:"roles"` // public: who is Kassenwart
}

func profileView(p account.Profile) profileJSON {
	return profileJSON{ID: p.ID, Handle: p.Handle, Name: p.Name, Position: pointView(p.Position), Verified: p.Verified,
		CreatedAt: p.CreatedAt, Roles: roles(p.Roles)}
}

// meJSON is the account's own view: the only response that carries the address and home.
type meJSON struct {
	ID              uuid.UUID  `json:"id"`
	Handle          string     `json:"handle"`
	Name            string     `json:"name"`
	Email           string     `json:"email"`
	Address         string     `json:"address"`
	Lat             *float64   `json:"lat"`
	Lon             *float64   `json:"lon"`
	PositionRadiusM int        `json:"position_radius_m"`
	OnMap           bool       `json:"on_map"`
	Position        *pointJSON `json:"position"` // the public position as others see it
	Verified        bool       `json:"verified"`
	IsAdmin         bool       `json:"is_admin"`
	CreatedAt       time.Time  `json:"created_at"`
	Roles           []string   `json:"roles"`
}

// ownJSON is GET /api/me: meJSON with the account's moderation state.
type ownJSON struct {
	meJSON
	// Sanction is the suspension or ban in force, or null.
	Sanction *sanctionJSON `json:"sanction"`
	// Warnings are the moderators' warnings, oldest first.
	Warnings []account.Warning `json:"warnings"`
}

type sanctionJSON struct {
	State   string     `json:"state"` // suspended, banned
	Until   *time.Time `json:"until"` // a suspension's end
	Reason  string     `json:"reason"`
	Eintrag *uuid.UUID `json:"eintrag_id"` // its entry in the moderation log (to appeal it)
}

// roles is never null in JSON.
func roles(rs []string) []string {
	if rs == nil {
		return []string{}
	}
	return rs
}

func meView(a account.Account) meJSON {
	v := meJSON{ID: a.ID, Handle: a.Handle, Name: a.Name, Email: a.Email, Address: a.Address, PositionRadiusM: a.PositionRadiusM,
		OnMap: a.OnMap, Position: pointView(a.Profile().Position), Verified: a.Verified(), IsAdmin: a.IsAdmin, CreatedAt: a.CreatedAt,
		Roles: roles(a.Roles)}
	if a.Home != nil {
		v.Lat, v.Lon = &a.Home.Lat, &a.Home.Lon
	}
	return v
}

// Handlers.

type registerRequest struct {
	Name            *string  `json:"name"`
	Address         *string  `json:"address"`
	Lat             *float64 `json:"lat"`
	Lon             *float64 `json:"lon"`
	Email           *string  `json:"email"`
	Password        *string  `json:"password"`
	PositionRadiusM *int     `json:"position_radius_m"`
	OnMap           *bool    `json:"on_map"`
	// Altcha is the solved captcha, as the widget gives it (base64 of JSON); needed when the
	// captcha is on (captcha.go).
	Altcha *string `json:"altcha"`
}

func (s *Server) register(w http.ResponseWriter, r *http.Request) error {
	var in registerRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	for _, f := range []struct {
		name    string
		present bool
	}{{"name", in.Name != nil}, {"address", in.Address != nil}, {"lat", in.Lat != nil}, {"lon", in.Lon != nil},
		{"email", in.Email != nil}, {"password", in.Password != nil}} {
		if !f.present {
			return missing(f.name)
		}
	}
	solved, err := s.checkCaptcha(r, in.Altcha)
	if err != nil {
		return err
	}
	reg := account.Registration{Name: *in.Name, Address: *in.Address, Home: geo.Point{Lat: *in.Lat, Lon: *in.Lon},
		Email: *in.Email, Password: *in.Password, PositionRadiusM: in.PositionRadiusM, Hidden: in.OnMap != nil && !*in.OnMap}
	// The limits count registrations that act: SignUp asks them once it has checked the input
	// (all but the bounds, which take a query), so that a resident whose password the rules
	// refused three times is not then told to wait. What refused ones cost is bounded by
	// ClassRegisterRequest, before the body is read (limitByIP).
	admit := func(emailKey [sha256.Size]byte) error {
		if err := s.limits.allow(ClassRegister, PerIP, ipKey(s.limits.clientIP(r))); err != nil {
			return err
		}
		if err := s.limits.allow(ClassRegister, PerAccount, string(emailKey[:])); err != nil {
			return err
		}
		// Spent only now, so that a resident whose input was refused may use the same
		// solution again; a limited registration does not spend it either.
		return s.spendCaptcha(r, solved)
	}
	if err := s.Accounts.SignUp(r.Context(), reg, admit); err != nil {
		return err
	}
	respond.JSON(w, http.StatusAccepted, registeredBody)
	return nil
}

// registeredBody is the one answer to an accepted registration, whether it created an account
// or found the address taken (and queued a notice to it): nothing in it, nor in the headers,
// may differ between the two. The client logs in next.
var registeredBody = map[string]string{"status": "registered",
	"message": "Registration received. Log in with the email address and password; if the address had an account already, its old password still holds."}

type loginRequest struct {
	Email    *string `json:"email"`
	Password *string `json:"password"`
	// Altcha is a solved captcha, needed once logins to the address have failed (captcha.go).
	Altcha *string `json:"altcha"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) error {
	var in loginRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if in.Email == nil {
		return missing("email")
	}
	if in.Password == nil {
		return missing("password")
	}
	var device string
	if c, err := r.Cookie(deviceCookie); err == nil {
		device = c.Value
	}
	sess, a, err := s.Accounts.Login(r.Context(), *in.Email, *in.Password, clientNetwork(s.limits.clientIP(r)), device,
		s.loginCaptcha(r, in.Altcha))
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: sess.Token, Path: "/", Expires: sess.ExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r),
	})
	// Strict: only the instance's own pages log in, and a device token has no business on a
	// request another site started.
	http.SetCookie(w, &http.Cookie{
		Name: deviceCookie, Value: sess.Device, Path: deviceCookiePath, Expires: sess.DeviceExpiresAt,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.secure(r),
	})
	respond.JSON(w, http.StatusOK, meView(a))
	return nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	if c, err := r.Cookie(sessionCookie); err == nil {
		if err := s.Accounts.Logout(r.Context(), c.Value); err != nil {
			return err
		}
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure(r)})
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// session answers who is logged in, or that nobody is, always with 200: the app asks on every
// start, and an anonymous visit is no error (a 401 from /api/me would show as one in the
// browser's console).
func (s *Server) session(w http.ResponseWriter, r *http.Request) error {
	var body struct {
		Account *meJSON `json:"account"`
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		me, err := s.Accounts.Authenticate(r.Context(), c.Value)
		if f, ok := fault.As(err); err != nil && (!ok || f.Kind != fault.Unauthenticated) {
			return err
		}
		if err == nil {
			v := meView(me)
			body.Account = &v
		}
	}
	respond.JSON(w, http.StatusOK, body)
	return nil
}

// sanctionView is the account's sanction in force, or nil.
func sanctionView(a account.Account, now time.Time) *sanctionJSON {
	switch {
	case a.Banned():
		return &sanctionJSON{State: "banned", Reason: a.SanctionReason, Eintrag: a.SanctionRef}
	case a.Suspended(now):
		return &sanctionJSON{State: "suspended", Until: a.SuspendedUntil, Reason: a.SanctionReason, Eintrag: a.SanctionRef}
	}
	return nil
}

func (s *Server) me(w http.ResponseWriter, r *http.Request, me account.Account) error {
	v := ownJSON{meJSON: meView(me), Sanction: sanctionView(me, s.Accounts.Now())}
	ws, err := s.Accounts.Warnings(r.Context(), me.ID)
	if err != nil {
		return err
	}
	v.Warnings = ws
	if v.Warnings == nil {
		v.Warnings = []account.Warning{}
	}
	respond.JSON(w, http.StatusOK, v)
	return nil
}

type updateMeRequest struct {
	Name            *string  `json:"name"`
	Address         *string  `json:"address"`
	Lat             *float64 `json:"lat"`
	Lon             *float64 `json:"lon"`
	PositionRadiusM *int     `json:"position_radius_m"`
	OnMap           *bool    `json:"on_map"`
}

func (s *Server) updateMe(w http.ResponseWriter, r *http.Request, me account.Account) error {
	var in updateMeRequest
	if err := decode(r, &in); err != nil {
		return err
	}
	if (in.Lat == nil) != (in.Lon == nil) {
		if in.Lat == nil {
			return missing("lat")
		}
		return missing("lon")
	}
	c := account.Changes{Name: in.Name, Address: in.Address, PositionRadiusM: in.PositionRadiusM, OnMap: in.OnMap}
	if in.Lat != nil {
		c.Home = &geo.Point{Lat: *in.Lat, Lon: *in.Lon}
	}
	a, err := s.Accounts.Update(r.Context(), me.ID, c)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, meView(a))
	return nil
}

func (s *Server) profile(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, account.ErrNotFound)
	if err != nil {
		return err
	}
	a, err := s.Accounts.Get(r.Context(), id)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, profileView(a.Profile()))
	return nil
}

// listResidents is the admin's list of residents by verification (?verified=false: who waits).
// Only the public profile: an admin verifies a resident they know, not an address they read.
func (s *Server) listResidents(w http.ResponseWriter, r *http.Request, me account.Account) error {
	v := r.URL.Query().Get("verified")
	if v != "true" && v != "false" {
		return fault.Malformedf("invalid_filter", `verified must be "true" or "false".`)
	}
	as, err := s.Accounts.Residents(r.Context(), me, v == "true")
	if err != nil {
		return err
	}
	// The moderators' view: the public profile and the sanction in force (the moderation log
	// shows it publicly too), so that the panel can offer what fits (lift, suspend).
	type residentJSON struct {
		profileJSON
		Sanction *sanctionJSON `json:"sanction"`
	}
	now := s.Accounts.Now()
	out := make([]residentJSON, 0, len(as))
	for _, a := range as {
		out = append(out, residentJSON{profileView(a.Profile()), sanctionView(a, now)})
	}
	respond.JSON(w, http.StatusOK, map[string]any{"accounts": out})
	return nil
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request, me account.Account) error {
	id, err := pathID(r, account.ErrNotFound)
	if err != nil {
		return err
	}
	a, err := s.Accounts.Verify(r.Context(), me, id)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, profileView(a.Profile()))
	return nil
}
