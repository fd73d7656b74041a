// Package chorus holds the domain of the Chorus live-chat platform: its types
// (tenants, agents, contacts, channels, conversations, messages), the error
// codes every transport maps in one place, the authenticated Principal, and
// the small interfaces that cross module boundaries (Store, Bus, RateLimiter,
// and the seams of the next capabilities: PresenceState, JobQueue, VectorStore).
//
// It imports only the standard library. Adapters live in packages named for
// their technology (sqlite, postgres, bus) and are chosen once, in app.
package chorus
