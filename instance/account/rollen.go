package account

import (
	"context"
	"slices"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// Kassenwart is the treasurer's role: confirms the Ortskonto's money (instance/ortskonto).
const Kassenwart = "kassenwart"

// Moderator is the moderators' role: the queue, hiding content, warnings and suspensions
// (docs/MODERATION.md, instance/moderation).
const Moderator = "moderator"

// Streamer runs the Partizipartei's livestreams: makes them, rotates their ingest keys, ends
// them (docs/STREAMS.md, instance/stream).
const Streamer = "streamer"

// Roles are the roles an admin may give.
var Roles = []string{Kassenwart, Moderator, Streamer}

// Has reports whether the account holds the role.
func (a Account) Has(role string) bool { return slices.Contains(a.Roles, role) }

// RolleVergebenV1 / RolleEntzogenV1: an admin gave or took a role.
type RolleVergebenV1 struct {
	AccountID uuid.UUID `json:"account_id"`
	Rolle     string    `json:"rolle"`
	By        uuid.UUID `json:"by"`
}

type RolleEntzogenV1 struct {
	AccountID uuid.UUID `json:"account_id"`
	Rolle     string    `json:"rolle"`
	By        uuid.UUID `json:"by"`
}

var (
	RolleVergeben = eventstore.Define[RolleVergebenV1]("RolleVergeben", 1, eventstore.Private, "An admin gave an account a role (the Kassenwart, a moderator).")
	RolleEntzogen = eventstore.Define[RolleEntzogenV1]("RolleEntzogen", 1, eventstore.Private, "An admin took a role from an account.")
)

var errUnknownRole = &fault.Error{Kind: fault.Malformed, Code: "unknown_role", Message: "There is no such role; the roles are: kassenwart, moderator, streamer.", Field: "role"}

// GrantRole gives the account the role; only admins may. Granting a role the account holds
// already changes nothing and records nothing.
func (s *Service) GrantRole(ctx context.Context, by Account, id uuid.UUID, role string) (Account, error) {
	return s.changeRole(ctx, by, id, role, true)
}

// RevokeRole takes the role from the account; only admins may. Taking a role the account does
// not hold changes nothing.
func (s *Service) RevokeRole(ctx context.Context, by Account, id uuid.UUID, role string) (Account, error) {
	return s.changeRole(ctx, by, id, role, false)
}

func (s *Service) changeRole(ctx context.Context, by Account, id uuid.UUID, role string, grant bool) (Account, error) {
	if !by.IsAdmin {
		return Account{}, fault.Forbiddenf("admin_required", "Only an admin of this instance can give or take roles.")
	}
	if !slices.Contains(Roles, role) {
		return Account{}, errUnknownRole
	}
	var a Account
	err := database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		var err error
		// Locked: two admins changing one account's roles at once each see the other's result.
		if a, err = getAccount(ctx, tx, id, true); err != nil {
			return err
		}
		if a.Has(role) == grant {
			return nil
		}
		now := s.clock.Now()
		hdr := eventstore.Header{Actor: by.ID, Subject: id}
		if grant {
			tx.Defer(`INSERT INTO account_rollen (account_id, rolle, granted_by, granted_at) VALUES ($1, $2, $3, $4)`, id, role, by.ID, now)
			a.Roles = append(a.Roles, role)
			slices.Sort(a.Roles)
			return eventstore.Append(tx, now, RolleVergeben.New(hdr, RolleVergebenV1{AccountID: id, Rolle: role, By: by.ID}))
		}
		tx.Defer(`DELETE FROM account_rollen WHERE account_id = $1 AND rolle = $2`, id, role)
		a.Roles = slices.DeleteFunc(a.Roles, func(r string) bool { return r == role })
		return eventstore.Append(tx, now, RolleEntzogen.New(hdr, RolleEntzogenV1{AccountID: id, Rolle: role, By: by.ID}))
	})
	if err != nil {
		return Account{}, err
	}
	return a, nil
}
