// Package loadtest is the engine of cmd/chorus-load: it drives a Chorus server
// through its public contract only (docs PROTOCOL.md: REST and WebSocket),
// holds many 1:1 conversations open, sends messages on an open-loop schedule
// and reports end-to-end latency, loss, duplicates and the server's resource
// use read from /proc.
//
// Open loop: every send has a fixed scheduled time (start + i/rate) that does
// not depend on earlier sends completing, and latency is measured from that
// scheduled time, so a stalled server cannot hide its latency by slowing the
// sender down (coordinated omission).
package loadtest
