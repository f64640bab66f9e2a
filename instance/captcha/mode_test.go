package captcha

import "testing"

// WG_CAPTCHA's values: what each asks at registration and at a login with so many failures.
func TestParseMode(t *testing.T) {
	for _, tc := range []struct {
		in             string
		on, register   bool
		login0, login3 bool
		wantErr        bool
	}{
		{in: "off"},
		{in: "on", on: true, register: true, login3: true},
		{in: "register,login-after-failures", on: true, register: true, login3: true},
		{in: "register", on: true, register: true},
		{in: "register, login", on: true, register: true, login0: true, login3: true},
		{in: "login-after-failures", on: true, login3: true},
		{in: "maybe", wantErr: true},
		{in: "register,register", wantErr: true},
		{in: "login,login-after-failures", wantErr: true},
	} {
		o, on, err := ParseMode(tc.in)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: error %v", tc.in, err)
			continue
		}
		if tc.wantErr {
			continue
		}
		var s *Service
		if on {
			s = New(nil, nil, o)
		}
		got := [4]bool{on, s.AtRegister(), s.AtLogin(0), s.AtLogin(LoginFailures)}
		if want := [4]bool{tc.on, tc.register, tc.login0, tc.login3}; got != want {
			t.Errorf("%q: on, register, login with 0 and %d failures = %v, want %v", tc.in, LoginFailures, got, want)
		}
		if s.AtLogin(LoginFailures-1) != tc.login0 {
			t.Errorf("%q: login with %d failures asked %v", tc.in, LoginFailures-1, !tc.login0)
		}
	}
}
