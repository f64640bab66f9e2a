// Package federation will make each Ortsweberei an ActivityPub node: actors, WebFinger,
// NodeInfo, HTTP signatures, inbox and outbox, durable delivery (the federation issue).
//
// Nothing here yet. What it will build on is in place: every public event in the log
// (eventstore, Event.Public) is what the outbox will show, read by position with
// eventstore.Store.Follow, and delivery will run as River jobs (instance/jobs).
package federation
