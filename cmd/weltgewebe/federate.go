package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/weltgewebe/weltgewebe/instance"
)

// adminFederate makes this Ortsweberei and a neighbouring one follow each other. It opens the
// instance (the same database flags and --public-url as serve) and queues the Follow; the
// running serve delivers it.
func adminFederate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, db := command("admin federate", stderr)
	publicURL := fs.String("public-url", envOr("WG_PUBLIC_URL", ""), "the URL the instance is reached at (as given to serve)")
	dev := fs.Bool("dev", false, "as serve --dev: allow plain http and loopback neighbours")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: weltgewebe admin federate [flags] NEIGHBOUR (base URL, handle or actor URL)")
	}
	return withInstance(ctx, db, *publicURL, *dev, stderr, func(inst *instance.Instance) error {
		iri, err := inst.Federation.Federate(ctx, fs.Arg(0))
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "following %s; it follows back when it accepts\n", iri)
		return nil
	})
}

func adminBlock(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, db := command("admin block", stderr)
	by := fs.String("by", "", "email of the admin who blocks")
	reason := fs.String("reason", "", "why (shown in the public moderation log)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || *by == "" {
		return errors.New("usage: weltgewebe admin block --by ADMIN [database flags] DOMAIN")
	}
	return withInstance(ctx, db, "", false, stderr, func(inst *instance.Instance) error {
		admin, err := inst.Accounts.GetByEmail(ctx, *by)
		if err != nil {
			return fmt.Errorf("--by %s: %w", *by, err)
		}
		if err := inst.Federation.Block(ctx, admin, fs.Arg(0), *reason); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s is blocked\n", fs.Arg(0))
		return nil
	})
}

func withInstance(ctx context.Context, db *dbFlags, publicURL string, dev bool, stderr io.Writer, fn func(*instance.Instance) error) error {
	inst, err := instance.Open(ctx, instance.Config{DB: db.config(), PublicURL: publicURL, Dev: dev, Log: quietLogger(stderr)})
	if err != nil {
		return err
	}
	err = fn(inst)
	return errors.Join(err, inst.Close())
}
