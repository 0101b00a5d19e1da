// Command noopmilter is a milter that does nothing: it answers "continue" at
// every stage and accepts at end of message. bench/milter-throughput.sh uses it
// as the baseline cost of the milter protocol (go-milter v0.5.0) in Postfix.
//
// It receives every stage, headers and body chunks included, like mailseal does.
package main

import (
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/emersion/go-milter"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8891", "TCP address to listen on (host:port)")
	flag.Parse()

	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("noopmilter: %v", err)
	}
	srv := &milter.Server{
		NewMilter: func() milter.Milter { return milter.NoOpMilter{} },
		Actions:   milter.OptAddHeader | milter.OptChangeHeader | milter.OptChangeBody,
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		<-sig
		_ = srv.Close()
	}()
	log.Printf("noopmilter: listening on %s", ln.Addr())
	if err := srv.Serve(ln); err != nil && err != milter.ErrServerClosed {
		log.Fatalf("noopmilter: %v", err)
	}
}
