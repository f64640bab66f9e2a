package knoten

import "slices"

// Knoten types. The list is closed: an unknown type is refused.
var KnotenTypes = []string{"idee", "ereignis", "einrichtung", "werkzeug", "schlafplatz", "parkplatz"}

// Faden types. Residents spin the first three directly; the others are spun by the features
// they belong to (Anträge, Abstimmungen, donations, reports, delegations).
var (
	FadenTypes          = []string{"gespraech", "gestaltung", "veraenderung", "antrag", "abstimmung", "gold", "melde", "delegation"}
	SpinnableFadenTypes = []string{"gespraech", "gestaltung", "veraenderung"}
)

// FirstFadenType is the type of the Faden a Knoten's creator spins by placing it.
const FirstFadenType = "gestaltung"

func validKnotenType(t string) bool { return slices.Contains(KnotenTypes, t) }
func validFadenType(t string) bool  { return slices.Contains(FadenTypes, t) }
