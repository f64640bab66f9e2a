package federation

import (
	"context"

	"github.com/weltgewebe/weltgewebe/instance/account"
)

// What the admin asks of federation through the HTTP API (httpapi.Fediverse).

// Block defederates a domain (and its subdomains): nothing from it is stored afterwards, and
// what it already sent is removed, its mirrored snapshots too. With moderation wired
// (SetModeration), the block is an entry of the public moderation log, with the reason
// (optional: "" is shown as "—").
func (s *Service) Block(ctx context.Context, by account.Account, domain, reason string) error {
	return s.blocks.Block(ctx, by, domain, reason)
}

// Unblock lifts a block, as an entry of the public moderation log as Block is.
func (s *Service) Unblock(ctx context.Context, by account.Account, domain, reason string) error {
	return s.blocks.Unblock(ctx, by, domain, reason)
}

// Blocks lists the blocked domains.
func (s *Service) Blocks(ctx context.Context) ([]string, error) { return s.blocks.List(ctx) }

// Federate makes this Ortsweberei and a neighbouring one follow each other: ours follows theirs
// now, and theirs follows back when it accepts. target is the neighbour's base URL
// (https://nachbar.example), its handle (ortsweberei@nachbar.example) or its actor's URL.
func (s *Service) Federate(ctx context.Context, target string) (string, error) {
	return s.actors.Federate(ctx, target)
}
