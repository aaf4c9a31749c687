// Package soak holds the long-running soak test of camstream (`make soak`, outside CI): a server, ten viewers and
// one that reconnects every few seconds, for SOAK_DURATION (default 10m), with the server's memory, goroutines and
// file descriptors and each viewer's frame rate printed every 30 s. The test is built only with the soak tag.
package soak
