// Package summary is the summary role (C4): conversation summaries and
// similar-conversation search. It is reserved for the summary engine issue
// (ROADMAP): langchaingo with an extractive default, embeddings in ChromaDB
// or an embedded vector store, fed from the outbox, never on the chat path.
package summary
