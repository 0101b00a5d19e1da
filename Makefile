# mailseal: build the binary and its man pages, install them.
#   make                      build/mailseal, build/man/mailseal.8, build/man/mailseal.yaml.5
#   make install              into $(DESTDIR)$(PREFIX): sbin/mailseal, share/man/man{8,5}
#   make test                 the whole test suite (scripts/test.sh)
#   make deb                  build/mailseal_VERSION-1_amd64.deb (packaging/build-deb.sh, nfpm)
# Packages set DESTDIR, PREFIX=/usr and SOURCE_DATE_EPOCH (the man pages' date).

PREFIX   ?= /usr/local
DESTDIR  ?=
SBINDIR  ?= $(PREFIX)/sbin
MANDIR   ?= $(PREFIX)/share/man
BUILDDIR ?= build
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build man install test clean deb

all: build

build: $(BUILDDIR)/mailseal man

# Always rebuilt: go build knows what changed.
$(BUILDDIR)/mailseal: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $@ ./cmd/mailseal

man: $(BUILDDIR)/mailseal
	$(BUILDDIR)/mailseal man $(BUILDDIR)/man

install: build
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5
	install -m 0755 $(BUILDDIR)/mailseal $(DESTDIR)$(SBINDIR)/mailseal
	install -m 0644 $(BUILDDIR)/man/mailseal.8 $(DESTDIR)$(MANDIR)/man8/mailseal.8
	install -m 0644 $(BUILDDIR)/man/mailseal.yaml.5 $(DESTDIR)$(MANDIR)/man5/mailseal.yaml.5

test:
	bash scripts/test.sh

deb:
	GO=$(GO) VERSION=$(VERSION) sh packaging/build-deb.sh $(BUILDDIR)

clean:
	rm -rf $(BUILDDIR)

FORCE:
