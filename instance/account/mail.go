package account

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/weltgewebe/weltgewebe/instance/database"
)

// Mail: so far the notices of registration. They are queued in mail_outbox, in the
// transaction of the registration they belong to, for a sender to deliver — and there is no
// sender yet (docs/OPERATIONS.md): until one is configured, what is queued is not delivered,
// and the retention sweep deletes it after MailRetention. Mail carries private data (the
// address, and that it has an account): it is not an event.

// Mail is a message to one address.
type Mail struct {
	To      string
	Subject string
	Body    string
}

// MailRetention is how long the outbox keeps a mail, sent or not.
const MailRetention = 30 * 24 * time.Hour

// queueMail queues m with the transaction. at is wall-clock time, like a session's: moving
// the dev clock must not age the outbox.
func queueMail(tx *database.Tx, at time.Time, m Mail) {
	tx.Defer(`INSERT INTO mail_outbox (id, to_address, subject, body, created_at) VALUES ($1, $2, $3, $4, $5)`,
		uuid.Must(uuid.NewV7()), m.To, m.Subject, m.Body, at)
}

// SweepMail deletes mail older than MailRetention.
func (s *Service) SweepMail(ctx context.Context) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM mail_outbox WHERE created_at <= $1`, s.wall.Now().Add(-MailRetention))
	if err != nil {
		return 0, fmt.Errorf("account: sweep mail: %w", err)
	}
	return tag.RowsAffected(), nil
}

// The notices of registration. One is queued whichever way a registration ends, so that the
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
