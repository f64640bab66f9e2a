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
// profile URL (<base>/api/accounts/<id>), by their actor IRI (<base>/ap/users/<handle>) or by
// their Fediverse handle (handle@host).
// Accounts are never hidden; they are sanctioned.
type accountContent struct {
	accounts *account.Service
	base     string
	host     string // of base: the host part of a handle
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
	case strings.Count(strings.TrimPrefix(ref, "@"), "@") == 1:
		// The Fediverse handle, handle@host or @handle@host, of this instance's host.
		handle, host, _ := strings.Cut(strings.TrimPrefix(ref, "@"), "@")
		if !strings.EqualFold(host, c.host) || handle == "" {
			return Target{}, false, nil
		}
		a, err = c.accounts.GetByHandle(ctx, handle)
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
