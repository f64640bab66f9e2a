package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance"
	"github.com/weltgewebe/weltgewebe/instance/account"
	"github.com/weltgewebe/weltgewebe/instance/clock"
	"github.com/weltgewebe/weltgewebe/instance/ortsweberei"
)

func adminCreate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, db := command("admin create", stderr)
	email := fs.String("email", "", "the admin's email (login)")
	password := fs.String("password", "", "the admin's password (at least 10 characters, not a common one, not made of the name or email address)")
	name := fs.String("name", "", "the admin's name")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" || *password == "" || *name == "" {
		fs.Usage()
		return errors.New("admin create needs --email, --password and --name")
	}
	return withAccounts(ctx, db, stderr, func(accounts *account.Service) error {
		a, err := accounts.CreateAdmin(ctx, *name, *email, *password)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "admin %s created: %s\n", a.Email, a.ID)
		return nil
	})
}

func adminVerify(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, db := command("admin verify", stderr)
	by := fs.String("by", "", "email of the admin who verifies")
	email := fs.String("email", "", "email of the account to verify")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *by == "" || *email == "" {
		fs.Usage()
		return errors.New("admin verify needs --by and --email")
	}
	return withAccounts(ctx, db, stderr, func(accounts *account.Service) error {
		admin, err := accounts.GetByEmail(ctx, *by)
		if err != nil {
			return fmt.Errorf("--by %s: %w", *by, err)
		}
		target, err := accounts.GetByEmail(ctx, *email)
		if err != nil {
			return fmt.Errorf("--email %s: %w", *email, err)
		}
		if _, err := accounts.Verify(ctx, admin, target.ID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s (%s) verified\n", target.Name, target.Email)
		return nil
	})
}

func withAccounts(ctx context.Context, db *dbFlags, stderr io.Writer, fn func(*account.Service) error) error {
	d, err := instance.OpenDatabase(ctx, db.config(), quietLogger(stderr))
	if err != nil {
		return err
	}
	c := clock.System{}
	err = fn(account.NewService(d.Pool, c, ortsweberei.NewService(d.Pool, c)))
	return errors.Join(err, d.Close())
}

// adminReclaim gives an account restored from snapshots its resident's login again
// (docs/SNAPSHOTS.md, "What a snapshot cannot bring back").
func adminReclaim(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs, db := command("admin reclaim", stderr)
	email := fs.String("email", "", "the resident's email (their login from now on)")
	password := fs.String("password", "", "a password for the resident (the registration's rules)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *email == "" || *password == "" || fs.NArg() != 1 {
		fs.Usage()
		return errors.New("usage: weltgewebe admin reclaim --email E --password P [database flags] ACCOUNT_ID")
	}
	id, err := uuid.Parse(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("ACCOUNT_ID: %w", err)
	}
	return withAccounts(ctx, db, stderr, func(accounts *account.Service) error {
		a, err := accounts.Reclaim(ctx, id, *email, *password)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s (%s) logs in as %s again\n", a.Name, a.ID, a.Email)
		return nil
	})
}
