package moderation

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// accountContent is the Content of local accounts (KindAccount): reported by id, by their
// profile URL (<base>/api/accounts/<id>) or by their actor IRI (<base>/ap/users/<handle>).
// Accounts are never hidden; they are sanctioned.
type accountContent struct {
	accounts *account.Service
	base     string
}

func (accountContent) Kinds() []string { return []string{KindAccount} }

func (c accountContent) Resolve(ctx context.Context, _ database.Querier, ref string) (Target, bool, error) {
	var a account.Account
	var err error
	switch {
	case strings.HasPrefix(ref, c.base+"/ap/users/"):
		a, err = c.accounts.GetByHandle(ctx, strings.TrimPrefix(ref, c.base+"/ap/users/"))
	case strings.HasPrefix(ref, c.base+"/api/accounts/"):
		id, perr := uuid.Parse(strings.TrimPrefix(ref, c.base+"/api/accounts/"))
		if perr != nil {
			return Target{}, false, nil
		}
		a, err = c.accounts.Get(ctx, id)
	default:
		// A bare id: every Content is asked, so it is ours only when such an account exists.
		id, perr := uuid.Parse(ref)
		if perr != nil {
			return Target{}, false, nil
		}
		a, err = c.accounts.Get(ctx, id)
	}
	if fault.Is(err, account.ErrNotFound.Code) {
		return Target{}, false, nil
	}
	if err != nil {
		return Target{}, false, err
	}
	return Target{Kind: KindAccount, ID: a.ID.String()}, true, nil
}

func (c accountContent) Describe(ctx context.Context, _ database.Querier, t Target) (Summary, error) {
	id, err := uuid.Parse(t.ID)
	if err != nil {
		return Summary{}, ErrUnknownTarget
	}
	a, err := c.accounts.Get(ctx, id)
	if fault.Is(err, account.ErrNotFound.Code) {
		return Summary{}, ErrUnknownTarget
	}
	if err != nil {
		return Summary{}, err
	}
	return Summary{Target: t, AuthorID: &a.ID, AuthorName: a.Name, URL: c.base + "/ap/users/" + a.Handle}, nil
}

func (accountContent) HideTx(context.Context, *database.Tx, Target, bool, uuid.UUID, string, time.Time) error {
	return errNotHideable
}
