package moderation

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/database"
	"github.com/weltgewebe/weltgewebe/instance/eventstore"
	"github.com/weltgewebe/weltgewebe/instance/fault"
)

// kindIP is the log's target kind of an address block; its id (the range) only admins see.
const kindIP = "ip"

// Sperre is an address block.
type Sperre struct {
	ID        uuid.UUID    `json:"id"`
	CIDR      netip.Prefix `json:"cidr"`
	Reason    string       `json:"reason"`
	By        uuid.UUID    `json:"by"`
	CreatedAt time.Time    `json:"created_at"`
	Until     *time.Time   `json:"until"`
}

// ipBlocks is the in-memory list Blocked answers from. Every process reloads it whenever an
// IPGesperrt or IPEntsperrt appears in the log (Run), and after its own changes commit.
type ipBlocks struct {
	mu   sync.RWMutex
	list []Sperre
}

var (
	errCIDR          = fault.Invalidf("cidr", "invalid_cidr", "An address block is an IPv4 or IPv6 address or range, e.g. 192.0.2.0/24 or 2001:db8::/48.")
	errBlockDays     = fault.Invalidf("days", "invalid_days", "A block lasts 0 (until lifted) to 3650 days.")
	errSperreUnknown = fault.NotFoundf("ipsperre_not_found", "There is no such address block.")
)

// ParseCIDR reads an address or a range; a range is stored masked ("192.0.2.7/24" is
// 192.0.2.0/24), an IPv4-mapped address as IPv4.
func ParseCIDR(s string) (netip.Prefix, error) {
	s = strings.TrimSpace(s)
	if p, err := netip.ParsePrefix(s); err == nil {
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errCIDR
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Blocked (IPBlocks) reports whether a client address ("192.0.2.7", "[2001:db8::1]:443") lies
// in a block in force.
func (s *Service) Blocked(addr string) bool {
	a, err := netip.ParseAddr(addr)
	if err != nil {
		ap, err := netip.ParseAddrPort(addr)
		if err != nil {
			return false
		}
		a = ap.Addr()
	}
	a = a.Unmap()
	now := s.clock.Now()
	s.blocks.mu.RLock()
	defer s.blocks.mu.RUnlock()
	for _, b := range s.blocks.list {
		if b.CIDR.Contains(a) && (b.Until == nil || b.Until.After(now)) {
			return true
		}
	}
	return false
}

// Load reads the blocks in force into memory.
func (s *Service) Load(ctx context.Context) error {
	list, err := listBlocks(ctx, s.pool, s.clock.Now())
	if err != nil {
		return err
	}
	s.blocks.mu.Lock()
	s.blocks.list = list
	s.blocks.mu.Unlock()
	return nil
}

func listBlocks(ctx context.Context, q database.Querier, now time.Time) ([]Sperre, error) {
	rows, err := q.Query(ctx, `SELECT id, cidr, reason, by_id, created_at, until FROM moderation_ipsperren
WHERE lifted_at IS NULL AND (until IS NULL OR until > $1) ORDER BY created_at, id`, now)
	if err != nil {
		return nil, fmt.Errorf("moderation: address blocks: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Sperre, error) {
		var b Sperre
		err := r.Scan(&b.ID, &b.CIDR, &b.Reason, &b.By, &b.CreatedAt, &b.Until)
		b.CreatedAt, b.Until = b.CreatedAt.UTC(), utc(b.Until)
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("moderation: address blocks: %w", err)
	}
	return list, nil
}

// Run keeps the address blocks of this process current until ctx ends: it loads them, then
// follows the log's IPGesperrt and IPEntsperrt (a block made through another replica) and
// loads them again on each. It outlives database outages.
func (s *Service) Run(ctx context.Context) error {
	if s.events == nil {
		<-ctx.Done()
		return nil
	}
	head, err := s.events.HeadWhenReadable(ctx, "ipsperren")
	if err != nil {
		return nil
	}
	for s.Load(ctx) != nil { // the head first: a block committed between the two is loaded, or followed
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	_ = s.events.KeepFollowingTypes(ctx, "ipsperren", head, 100, []string{IPGesperrt.Name(), IPEntsperrt.Name()},
		func(ctx context.Context, _ []eventstore.Event) error { return s.Load(ctx) })
	return nil
}

// Blocks lists the blocks in force (admins).
func (s *Service) Blocks(ctx context.Context, by account.Account) ([]Sperre, error) {
	if !by.IsAdmin {
		return nil, errAdminRequired
	}
	return listBlocks(ctx, s.pool, s.clock.Now())
}

// MaxBlockDays is the longest block with an end.
const MaxBlockDays = 3650

// Block blocks an address range from writing and registering, for days (0: until lifted).
func (s *Service) Block(ctx context.Context, by account.Account, cidr string, days int, reason string) (Sperre, error) {
	if !by.IsAdmin {
		return Sperre{}, errAdminRequired
	}
	p, err := ParseCIDR(cidr)
	if err != nil {
		return Sperre{}, err
	}
	if days < 0 || days > MaxBlockDays {
		return Sperre{}, errBlockDays
	}
	if reason, err = checkText(reason, true, errReason); err != nil {
		return Sperre{}, err
	}
	now := s.clock.Now().UTC()
	b := Sperre{ID: uuid.Must(uuid.NewV7()), CIDR: p, Reason: reason, By: by.ID, CreatedAt: now}
	if days > 0 {
		until := now.Add(time.Duration(days) * 24 * time.Hour)
		b.Until = &until
	}
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		tx.Defer(`INSERT INTO moderation_ipsperren (id, cidr, reason, by_id, created_at, until) VALUES ($1, $2, $3, $4, $5, $6)`,
			b.ID, b.CIDR, b.Reason, b.By, b.CreatedAt, b.Until)
		if err := eventstore.Append(tx, now, IPGesperrt.New(eventstore.Header{Actor: by.ID, Subject: b.ID},
			IPGesperrtV1{SperreID: b.ID, CIDR: b.CIDR.String(), Until: b.Until, By: by.ID, Reason: reason})); err != nil {
			return err
		}
		_, err := s.entryTx(ctx, tx, Entry{Action: DoBlockIP, Target: Target{Kind: kindIP, ID: b.CIDR.String()}, ModeratorID: by.ID,
			Reason: reason, Until: b.Until}, now)
		return err
	})
	if err != nil {
		return Sperre{}, err
	}
	s.addLocal(b) // this process holds it at once; the others when they follow the log
	return b, nil
}

func (s *Service) addLocal(b Sperre) {
	s.blocks.mu.Lock()
	s.blocks.list = append(s.blocks.list, b)
	s.blocks.mu.Unlock()
}

// Unblock lifts an address block.
func (s *Service) Unblock(ctx context.Context, by account.Account, id uuid.UUID, reason string) error {
	if !by.IsAdmin {
		return errAdminRequired
	}
	reason, err := checkText(reason, false, errReason)
	if err != nil {
		return err
	}
	if reason == "" {
		reason = "—"
	}
	var cidr string
	err = database.InTx(ctx, s.pool, func(tx *database.Tx) error {
		now := s.clock.Now()
		err := tx.QueryRow(ctx, `UPDATE moderation_ipsperren SET lifted_at = $2 WHERE id = $1 AND lifted_at IS NULL RETURNING cidr::text`,
			id, now).Scan(&cidr)
		if err == pgx.ErrNoRows {
			return errSperreUnknown
		}
		if err != nil {
			return fmt.Errorf("moderation: unblock: %w", err)
		}
		if err := eventstore.Append(tx, now, IPEntsperrt.New(eventstore.Header{Actor: by.ID, Subject: id},
			IPEntsperrtV1{SperreID: id, By: by.ID, Reason: reason})); err != nil {
			return err
		}
		_, err = s.entryTx(ctx, tx, Entry{Action: DoUnblockIP, Target: Target{Kind: kindIP, ID: cidr}, ModeratorID: by.ID, Reason: reason}, now)
		return err
	})
	if err != nil {
		return err
	}
	s.blocks.mu.Lock()
	s.blocks.list = slicesDelete(s.blocks.list, id)
	s.blocks.mu.Unlock()
	return nil
}

func slicesDelete(list []Sperre, id uuid.UUID) []Sperre {
	out := list[:0:0]
	for _, b := range list {
		if b.ID != id {
			out = append(out, b)
		}
	}
	return out
}
