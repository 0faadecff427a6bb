// Command gohandler is the README's Go receiver: it verifies webhookd's
// static deliveries with the receiver package and logs each new event.
//
//	WEBHOOK_SIGNING_SECRET=whsec_… go run ./examples/gohandler [--addr HOST:PORT]
//
// It listens on --addr, else WEBHOOK_RECEIVER_ADDR, else 127.0.0.1:8000.
package main

import (
	"errors"
	"flag"
	"log"
	"net/http"
	"os"

	"github.com/webhookd/webhookd/receiver"
)

func main() {
	addr, err := listenAddr(os.Args[1:], os.Getenv)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return
	case err != nil:
		os.Exit(2) // the flag package has printed why
	}
	mux, err := receiverMux(os.Getenv("WEBHOOK_SIGNING_SECRET"), func(ev *receiver.Event) {
		log.Printf("%s %s %s", ev.ID, ev.Type, ev.Data)
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}

// defaultAddr is where the receiver listens when nothing says otherwise.
const defaultAddr = "127.0.0.1:8000"

// listenAddr is the address to listen on: --addr, else the
// WEBHOOK_RECEIVER_ADDR environment variable, else defaultAddr.
func listenAddr(args []string, getenv func(string) string) (string, error) {
	fs := flag.NewFlagSet("gohandler", flag.ContinueOnError)
	def := getenv("WEBHOOK_RECEIVER_ADDR")
	if def == "" {
		def = defaultAddr
	}
	addr := fs.String("addr", def, "`address` to listen on (WEBHOOK_RECEIVER_ADDR)")
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	return *addr, nil
}
