package instance

import "github.com/weltgewebe/weltgewebe/instance/moderation"

// moderationContents are the packages whose content can be reported and hidden
// (moderation.Content), one line each. Accounts (KindAccount) are the moderation package's
// own and registered by moderation.NewService; the content packages add theirs here.
func (i *Instance) moderationContents() []moderation.Content {
	return []moderation.Content{
		i.Knoten.Moderation(i.cfg.PublicURL),   // Knoten and Fäden
		i.Antraege.Moderation(i.cfg.PublicURL), // Anträge, Einsprüche, Kommentare
		i.Chat.Moderation(),                    // the Nähstübchen's messages
	}
}
