// Package vocab will hold Weltgewebe's JSON-LD context and the Go types that map Knoten,
// Faden, Antrag, Stimme and snapshots onto ActivityStreams (the federation issue).
//
// Nothing here yet. The event payloads it will translate are documented, versioned and
// tested in docs/EVENTS.md.
package vocab
