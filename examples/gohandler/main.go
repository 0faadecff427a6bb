// Command gohandler is the README's Go receiver: it verifies webhookd's
// static deliveries with the receiver package and logs each new event.
//
//	WEBHOOK_SIGNING_SECRET=whsec_… go run ./examples/gohandler
package main

import (
	"log"
	"net/http"
	"os"

	"github.com/webhookd/webhookd/receiver"
)

func main() {
	mux, err := receiverMux(os.Getenv("WEBHOOK_SIGNING_SECRET"), func(ev *receiver.Event) {
		log.Printf("%s %s %s", ev.ID, ev.Type, ev.Data)
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Fatal(http.ListenAndServe("127.0.0.1:8000", mux))
}
