// Package presence is the presence role (C3): agent availability,
// heartbeats, capacity, typing and routing inputs. Today availability is set
// through the chat API (PUT /agents/me/status, kept with its history in
// agent_availability) and typing travels through the gateway; automatic
// routing, grace periods and the Redis-backed live state are the next issue
// (ROADMAP: presence and routing), which fills this package.
package presence
