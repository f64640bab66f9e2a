package mirror

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/weltgewebe/weltgewebe/federation/internal/iri"
	"github.com/weltgewebe/weltgewebe/instance/database"
)

// originOnDomain is the condition that a row's origin (a host, with its port if any) is the
// blocked domain ($1) or under it, as database.OnDomain reads an IRI's host.
var originOnDomain = database.OnDomain(`('https://' || origin)`)

// ForgetDomainTx (blocks.Forgetter): a blocked domain's mirrored snapshots are no longer kept
// nor served, and its refusals go with them, in the block's transaction. The files follow
// once the block committed (ForgotDomain): a transaction cannot take a removed file back.
func (s *Service) ForgetDomainTx(_ context.Context, tx *database.Tx, domain string) error {
	tx.Defer(`DELETE FROM snapshot_mirrors WHERE `+originOnDomain, domain)
	tx.Defer(`DELETE FROM snapshot_mirror_refusals WHERE `+originOnDomain, domain)
	return nil
}

// ForgotDomain (blocks.Afterwards) removes the directories of the blocked domain's hosts,
// with whatever a download left there. A failure is logged: the rows are gone, so nothing is
// served from what is left, and the next block of the domain tries again.
func (s *Service) ForgotDomain(domain string) {
	if s.cfg.Dir == "" {
		return
	}
	entries, err := os.ReadDir(s.cfg.Dir)
	if err != nil {
		if !os.IsNotExist(err) {
			s.cfg.Log.Warn("federation: mirrors of a blocked domain not removed", "domain", domain, "err", err)
		}
		return
	}
	for _, e := range entries {
		h := iri.NormalHost(e.Name())
		if !e.IsDir() || (h != domain && !strings.HasSuffix(h, "."+domain)) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(s.cfg.Dir, e.Name())); err != nil {
			s.cfg.Log.Warn("federation: mirrors of a blocked domain not removed", "domain", domain, "dir", e.Name(), "err", err)
			continue
		}
		s.cfg.Log.Info("federation: mirrors of a blocked domain removed", "domain", domain, "dir", e.Name())
	}
}
