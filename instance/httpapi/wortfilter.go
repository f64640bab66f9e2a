package httpapi

import (
	"net/http"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/respond"
	"github.com/weltgewebe/weltgewebe/instance/wortfilter"
)

// MaxWortfilterBytes bounds PUT /api/admin/wortfilter's body: a whole list of up to
// wortfilter.MaxEntries entries does not fit into MaxBodyBytes.
const MaxWortfilterBytes = 2 << 20

type wortfilterJSON struct {
	Words []string `json:"words"`
	Hold  []string `json:"hold"`
}

func wortfilterView(l wortfilter.List) wortfilterJSON {
	v := wortfilterJSON{Words: l.Words, Hold: l.Hold}
	if v.Words == nil {
		v.Words = []string{}
	}
	if v.Hold == nil {
		v.Hold = []string{}
	}
	return v
}

func (s *Server) getWortfilter(w http.ResponseWriter, r *http.Request, me account.Account) error {
	l, err := s.Wortfilter.Get(r.Context(), me)
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, wortfilterView(l))
	return nil
}

func (s *Server) setWortfilter(w http.ResponseWriter, r *http.Request, me account.Account) error {
	// Asked before the body is read: only an admin's request may be this large.
	if err := wortfilter.MayEdit(me); err != nil {
		return err
	}
	var in struct {
		Words *[]string `json:"words"`
		Hold  *[]string `json:"hold"`
	}
	if err := decodeLimit(r, &in, MaxWortfilterBytes); err != nil {
		return err
	}
	if in.Words == nil {
		return missing("words")
	}
	if in.Hold == nil {
		return missing("hold")
	}
	l, err := s.Wortfilter.Set(r.Context(), me, wortfilter.List{Words: *in.Words, Hold: *in.Hold})
	if err != nil {
		return err
	}
	respond.JSON(w, http.StatusOK, wortfilterView(l))
	return nil
}
