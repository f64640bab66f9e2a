package account

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/weltgewebe/weltgewebe/instance/clock"
)

// Mail is a message to one address.
type Mail struct {
	To      string
	Subject string
	Body    string
}

// Mailer sends the instance's mail: so far the notices of registration. The instance has no
// mail server of its own yet; the Outbox keeps what is to be sent, and an SMTP sender (later)
// is another Mailer, or one that works the Outbox off.
type Mailer interface {
	Send(ctx context.Context, m Mail) error
}

// Outbox is the Mailer that queues mail in the database (mail_outbox) for a sender to deliver.
// Mail carries private data (the address, and that it has an account): it is not an event.
type Outbox struct {
	pool  *pgxpool.Pool
	clock clock.Clock
	log   *slog.Logger
}

// NewOutbox returns the outbox on the pool.
func NewOutbox(pool *pgxpool.Pool, c clock.Clock, log *slog.Logger) *Outbox {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Outbox{pool: pool, clock: c, log: log}
}

// Send queues m.
func (o *Outbox) Send(ctx context.Context, m Mail) error {
	_, err := o.pool.Exec(ctx, `INSERT INTO mail_outbox (id, to_address, subject, body, created_at) VALUES ($1, $2, $3, $4, $5)`,
		uuid.Must(uuid.NewV7()), m.To, m.Subject, m.Body, o.clock.Now())
	if err != nil {
		return fmt.Errorf("account: queue mail: %w", err)
	}
	o.log.Info("mail queued", "subject", m.Subject)
	return nil
}

// To returns the mail queued for an address (case-insensitive), oldest first.
func (o *Outbox) To(ctx context.Context, address string) ([]Mail, error) {
	rows, err := o.pool.Query(ctx, `SELECT to_address, subject, body FROM mail_outbox WHERE lower(to_address) = lower($1) ORDER BY created_at, id`, address)
	if err != nil {
		return nil, fmt.Errorf("account: outbox: %w", err)
	}
	var out []Mail
	var m Mail
	_, err = pgx.ForEachRow(rows, []any{&m.To, &m.Subject, &m.Body}, func() error { out = append(out, m); return nil })
	if err != nil {
		return nil, fmt.Errorf("account: outbox: %w", err)
	}
	return out, nil
}

// The notices of registration. One goes out whichever way a registration ends, so that the
// two ways take the same work.

func welcomeMail(to, name string) Mail {
	return Mail{To: to, Subject: "Willkommen in der Ortsweberei",
		Body: fmt.Sprintf(`Hallo %s,

mit dieser Adresse wurde ein Konto angelegt. Eine Verwalterin oder ein Verwalter deiner
Ortsweberei bestätigt es noch; bis dahin kannst du Knoten knüpfen und Fäden spinnen.

Warst du das nicht? Dann antworte bitte nicht, sondern sag der Verwaltung deiner Ortsweberei
Bescheid.
`, name)}
}

func takenMail(to string) Mail {
	return Mail{To: to, Subject: "Jemand wollte sich mit deiner Adresse registrieren",
		Body: `Hallo,

gerade hat jemand versucht, mit dieser E-Mail-Adresse ein neues Konto anzulegen. Zu der Adresse
gibt es aber schon ein Konto; ein zweites wurde nicht angelegt.

Warst du das? Dann melde dich einfach mit deinem bisherigen Passwort an. Hast du es vergessen,
hilft dir die Verwaltung deiner Ortsweberei weiter.

Warst du es nicht, musst du nichts tun: an deinem Konto hat sich nichts geändert.
`}
}
