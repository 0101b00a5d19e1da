package integration

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailseal/mailseal/integration/postfixtest"
)

// The container test runs the repository's own Dockerfile, docker/ and
// docker-compose.yml, as a user would after `make build/mailseal`: the images
// are built from a copy of those files with the binary TestMain built (static,
// CGO_ENABLED=0), the stack comes up under a project name of its own, mail
// submitted to the published port leaves signed towards a sink on the
// project's gateway network, a restart of the mailseal container loses
// nothing, and `down -v` leaves no container, network or volume behind.

// compose runs the Compose tool: `docker compose` (the plugin) where it
// works, else Debian's `docker-compose`.
type compose struct {
	t       *testing.T
	argv    []string // the tool and its global arguments
	env     []string
	project string
}

func findCompose() ([]string, error) {
	if _, err := exec.LookPath("docker"); err != nil {
		return nil, fmt.Errorf("no docker client: %v", err)
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		return nil, fmt.Errorf("no Docker Engine: %v: %s", err, bytes.TrimSpace(out))
	}
	if exec.Command("docker", "compose", "version").Run() == nil {
		return []string{"docker", "compose"}, nil
	}
	if p, err := exec.LookPath("docker-compose"); err == nil {
		return []string{p}, nil
	}
	return nil, fmt.Errorf("neither `docker compose` nor docker-compose is installed")
}

func (c *compose) run(timeout time.Duration, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := append(append([]string(nil), c.argv...), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *compose) must(timeout time.Duration, args ...string) string {
	c.t.Helper()
	out, err := c.run(timeout, args...)
	if err != nil {
		c.t.Fatalf("%s %s: %v\n%s\n--- logs ---\n%s", strings.Join(c.argv, " "), strings.Join(args, " "), err, out, c.logs())
	}
	return out
}

func (c *compose) logs() string {
	out, _ := c.run(time.Minute, "logs", "--no-color", "--tail=60")
	return out
}

// containerID is the id of the one container of a service.
func (c *compose) containerID(service string) string {
	c.t.Helper()
	id := strings.TrimSpace(c.must(time.Minute, "ps", "-q", service))
	if id == "" || strings.Contains(id, "\n") {
		c.t.Fatalf("service %s: container ids %q", service, id)
	}
	return id
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// waitHealthy waits for the container's HEALTHCHECK to report healthy.
func waitHealthy(t *testing.T, c *compose, service string, timeout time.Duration) {
	t.Helper()
	id := c.containerID(service)
	deadline := time.Now().Add(timeout)
	for {
		st := docker(t, "inspect", "-f", "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", id)
		if st == "running healthy" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not healthy within %v: %s\n%s", service, timeout, st, c.logs())
		}
		time.Sleep(time.Second)
	}
}

// freeSubnet picks a /24 for a compose network that no route of this host
// (Docker adds one per bridge network) and none of taken overlaps. Both
// networks get one: left to Docker's default pools, the first could take a
// whole /16 that holds the second.
func freeSubnet(t *testing.T, taken ...netip.Prefix) netip.Prefix {
	t.Helper()
	out, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		t.Fatalf("ip route: %v", err)
	}
	var used []netip.Prefix
	for _, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		dst := f[0]
		if dst == "local" || dst == "broadcast" || dst == "unicast" {
			if len(f) < 2 {
				continue
			}
			dst = f[1]
		}
		if !strings.Contains(dst, "/") {
			dst += "/32"
		}
		if p, err := netip.ParsePrefix(dst); err == nil && p.Bits() > 0 {
			used = append(used, p)
		}
	}
	used = append(used, taken...)
	// Spread by process id so concurrent runs rarely race for the same one.
	start := os.Getpid() % 200
	for i := 0; i < 200; i++ {
		p := netip.PrefixFrom(netip.AddrFrom4([4]byte{172, 30, byte(20 + (start+i)%200), 0}), 24)
		clash := false
		for _, u := range used {
			if u.Overlaps(p) {
				clash = true
				break
			}
		}
		if !clash {
			return p
		}
	}
	t.Fatal("no free /24 in 172.30.20.0-172.30.219.0")
	return netip.Prefix{}
}

// buildContext copies what the Dockerfiles and docker-compose.yml use into
// a directory of its own, with the binary where `make build/mailseal` puts it.
func buildContext(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"Dockerfile", ".dockerignore", "docker-compose.yml", "docker"} {
		if out, err := exec.Command("cp", "-a", filepath.Join(root, f), dir).CombinedOutput(); err != nil {
			t.Fatalf("copy %s: %v\n%s", f, err, out)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "build"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", binary, filepath.Join(dir, "build", "mailseal")).CombinedOutput(); err != nil {
		t.Fatalf("copy binary: %v\n%s", err, out)
	}
	return dir
}

// fetchCA reads /ca.pem from the mailseal container's admin server, over
// the project's internal network, into a file.
func fetchCA(t *testing.T, c *compose, file string) string {
	t.Helper()
	id := c.containerID("mailseal")
	ip := docker(t, "inspect", "-f", `{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}`, id)
	if f := strings.Fields(ip); len(f) == 1 {
		ip = f[0]
	} else {
		t.Fatalf("mailseal container addresses %q, want one", ip)
	}
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + net.JoinHostPort(ip, "8892") + "/ca.pem")
	if err != nil {
		t.Fatalf("GET /ca.pem: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte("BEGIN CERTIFICATE")) {
		t.Fatalf("GET /ca.pem: %s\n%s", resp.Status, body)
	}
	if err := os.WriteFile(file, body, 0o644); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(body))
}

// sendRetrying submits like an MTA would: a 4xx reply or a lost connection
// means "try again later". It returns the number of tries.
func sendRetrying(addr string, m postfixtest.Mail, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	m.Addr = addr
	for try := 1; ; try++ {
		r := (&postfixtest.Instance{}).Submit(m)
		err := r.Error()
		if err == nil {
			return try, nil
		}
		permanent := r.Err == nil
		for _, e := range r.Errors {
			if e.Temporary() {
				permanent = false
			}
		}
		if permanent || time.Now().After(deadline) {
			return try, err
		}
		time.Sleep(time.Second)
	}
}

// lockContainerTest serialises container tests of concurrent test runs on
// one machine: they share the image tags, and a build of one run must not
// replace the image another run is about to start.
func lockContainerTest(t *testing.T) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "mailseal-container-test.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() }) // closing releases the lock
}

// imageID is the id a tag names now, "" if none.
func imageID(tag string) string {
	out, err := exec.Command("docker", "image", "inspect", "-f", "{{.Id}}", tag).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func TestContainerStack(t *testing.T) {
	tool, err := findCompose()
	if err != nil {
		skipUnlessRequired(t, "container test needs Docker Engine and Compose: %v", err)
	}
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatalf("openssl: %v", err)
	}
	if out, err := exec.Command("docker", "image", "inspect", "debian:bookworm-slim").CombinedOutput(); err != nil {
		t.Fatalf("base image debian:bookworm-slim is missing (run scripts/deps.d/50-base-image.sh as root, or docker pull it): %s", bytes.TrimSpace(out))
	}

	dir := buildContext(t)
	subnet := freeSubnet(t)
	internalSubnet := freeSubnet(t, subnet)
	gw := subnet.Addr().Next() // Docker gives a bridge network's first address to the host
	sinkPort := postfixtest.FreePort(t)
	smtpPort := postfixtest.FreePort(t)
	project := fmt.Sprintf("mailsealit%d", os.Getpid())
	c := &compose{
		t:       t,
		argv:    append(append([]string(nil), tool...), "--project-name", project, "--file", filepath.Join(dir, "docker-compose.yml")),
		project: project,
		env: []string{
			"GATEWAY_MAILSEAL_IMAGE=mailseal:test",
			"GATEWAY_POSTFIX_IMAGE=mailseal-postfix:test",
			"MAILSEAL_INTERNAL_DOMAINS=corp.example",
			"GATEWAY_SUBNET=" + subnet.String(),
			"GATEWAY_INTERNAL_SUBNET=" + internalSubnet.String(),
			"GATEWAY_SMTP_BIND=127.0.0.1",
			fmt.Sprintf("GATEWAY_SMTP_PORT=%d", smtpPort),
			fmt.Sprintf("RELAYHOST=[%s]:%d", gw, sinkPort),
		},
	}
	t.Logf("compose %v, project %s, gateway network %s, SMTP 127.0.0.1:%d, sink %s:%d", tool, project, subnet, smtpPort, gw, sinkPort)

	// Images: built once per run; Docker's layer cache makes a rebuild with
	// the same base and binary quick. An image this build replaces (a new
	// binary) is removed, so that repeated runs do not fill the disk.
	lockContainerTest(t)
	images := []string{"mailseal:test", "mailseal-postfix:test"}
	var before []string
	for _, tag := range images {
		before = append(before, imageID(tag))
	}
	c.must(20*time.Minute, "build")
	for i, tag := range images {
		if old := before[i]; old != "" && old != imageID(tag) {
			_ = exec.Command("docker", "image", "rm", old).Run()
		}
	}
	t.Cleanup(func() {
		if out, err := c.run(3*time.Minute, "down", "-v", "--remove-orphans"); err != nil {
			t.Logf("cleanup: down -v: %v\n%s", err, out)
		}
	})
	// Networks and containers first, so that the sink can listen on the
	// gateway network's host address before Postfix relays to it.
	c.must(5*time.Minute, "up", "--no-start")
	sink := startSink(t, net.JoinHostPort(gw.String(), fmt.Sprint(sinkPort)), "relay", nil)
	c.must(5*time.Minute, "up", "-d")
	waitHealthy(t, c, "mailseal", 3*time.Minute)
	waitHealthy(t, c, "postfix", 3*time.Minute)

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	caSum := fetchCA(t, c, caFile)
	smtpAddr := fmt.Sprintf("127.0.0.1:%d", smtpPort)

	// Mail from the host reaches Postfix from the gateway network, which the
	// compose file makes a trusted network: alice is signed for.
	mail := func(i int) (string, postfixtest.Mail) {
		id := fmt.Sprintf("<container-%d-%d@corp.example>", os.Getpid(), i)
		return id, postfixtest.Mail{
			From: "alice@corp.example",
			To:   []string{"bob@partner.example"},
			Data: []byte(fmt.Sprintf("From: Alice <alice@corp.example>\r\nTo: bob@partner.example\r\n"+
				"Subject: container %d\r\nMessage-ID: %s\r\nDate: Mon, 30 Nov 2026 00:00:00 +0000\r\n\r\n"+
				"Message %d through the compose stack.\r\n", i, id, i)),
		}
	}

	// The first mail alone: the stack as `up` left it signs.
	id0, m0 := mail(0)
	if _, err := sendRetrying(smtpAddr, m0, 2*time.Minute); err != nil {
		t.Fatalf("first mail: %v\n%s", err, c.logs())
	}
	sink.WaitMessages(t, 1, 3*time.Minute, c.logs)

	// Then streams of mail from several clients at once while the mailseal
	// container restarts: each is retried on 4xx as an MTA would, and must
	// arrive once, signed. Each stream goes on until the restart is over,
	// and a little after.
	const streams, perStream = 4, 60
	ids := map[string]bool{id0: true}
	var (
		mu          sync.Mutex
		wg, started sync.WaitGroup
		tries       []int
	)
	errs := make(chan error, streams*(perStream+1))
	restarted := make(chan struct{})
	next := 1
	for s := 0; s < streams; s++ {
		wg.Add(1)
		started.Add(1)
		go func() {
			defer wg.Done()
			after := 0
			for k := 0; k < perStream && after < 2; k++ {
				mu.Lock()
				i := next
				next++
				id, m := mail(i)
				ids[id] = true
				mu.Unlock()
				n, err := sendRetrying(smtpAddr, m, 4*time.Minute)
				mu.Lock()
				tries = append(tries, n)
				mu.Unlock()
				if err != nil {
					errs <- fmt.Errorf("mail %d: %w", i, err)
				}
				if k == 0 {
					started.Done()
				}
				select {
				case <-restarted:
					after++
				default:
				}
				time.Sleep(100 * time.Millisecond)
			}
			if after == 0 { // perStream reached before the restart ended
				errs <- fmt.Errorf("a stream ended before the restart did")
			}
		}()
	}
	started.Wait()
	c.must(3*time.Minute, "restart", "mailseal")
	close(restarted)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.Fatalf("submission failed\n%s", c.logs())
	}
	t.Logf("%d mails in %d streams across the restart; tries per mail: %v", len(tries), streams, tries)
	waitHealthy(t, c, "mailseal", 3*time.Minute)
	if sum := fetchCA(t, c, filepath.Join(t.TempDir(), "ca-after.pem")); sum != caSum {
		t.Errorf("the CA changed across a restart (state volume lost?): %s, then %s", caSum, sum)
	}

	// mailseal stopped: Postfix must refuse for now (milter_default_action
	// tempfail), not relay the mail unsigned; once mailseal is back the
	// client's retry goes through, signed.
	c.must(3*time.Minute, "stop", "mailseal")
	idDown, mDown := mail(next)
	ids[idDown] = true
	mDown.Addr = smtpAddr
	r := (&postfixtest.Instance{}).Submit(mDown)
	if r.Error() == nil {
		t.Fatalf("mail accepted (queued as %s) while mailseal was stopped\n%s", r.QueueID, c.logs())
	}
	for _, e := range r.Errors {
		if !e.Temporary() {
			t.Errorf("while mailseal was stopped: %v, want a 4xx reply", e)
		}
	}
	t.Logf("while mailseal was stopped: %v", r.Error())
	c.must(3*time.Minute, "start", "mailseal")
	waitHealthy(t, c, "mailseal", 3*time.Minute)
	if _, err := sendRetrying(smtpAddr, mDown, 3*time.Minute); err != nil {
		t.Fatalf("mail after mailseal came back: %v\n%s", err, c.logs())
	}

	msgs := sink.WaitMessages(t, len(ids), 5*time.Minute, c.logs)
	// Nothing more may trickle in (a duplicate would come with the queue's
	// next delivery attempt of a copy: give Postfix's queue a moment).
	time.Sleep(3 * time.Second)
	msgs = sink.Messages()
	seen := map[string]int{}
	for _, m := range msgs {
		content, signer := opensslVerify(t, caFile, m.Data)
		id := headerValue(m.Data, "Message-ID")
		seen[id]++
		if !ids[id] {
			t.Errorf("unexpected message %q delivered", id)
		}
		if len(signer.EmailAddresses) != 1 || signer.EmailAddresses[0] != "alice@corp.example" {
			t.Errorf("%s: signer %v, want alice@corp.example", id, signer.EmailAddresses)
		}
		if !bytes.Contains(content, []byte("through the compose stack.")) {
			t.Errorf("%s: signed content lacks the body:\n%s", id, content)
		}
	}
	for id := range ids {
		if seen[id] != 1 {
			t.Errorf("%s delivered %d times, want once", id, seen[id])
		}
	}

	// down -v removes everything of the project.
	c.must(3*time.Minute, "down", "-v", "--remove-orphans")
	label := "label=com.docker.compose.project=" + project
	if left := docker(t, "ps", "-a", "-q", "--filter", label); left != "" {
		t.Errorf("containers left after down -v: %s", left)
	}
	if left := docker(t, "network", "ls", "-q", "--filter", label); left != "" {
		t.Errorf("networks left after down -v: %s", left)
	}
	if left := docker(t, "volume", "ls", "-q", "--filter", label); left != "" {
		t.Errorf("volumes left after down -v: %s", left)
	}
}

// headerValue returns the first value of a header field in a raw message.
func headerValue(raw []byte, name string) string {
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	for _, l := range strings.Split(string(head), "\r\n") {
		k, v, ok := strings.Cut(l, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
