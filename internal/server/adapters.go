package server

import (
	"crypto/x509"
	"fmt"
	"tandem/internal/protocol"

	"tandem/internal/broker"
	"tandem/internal/config"
	"tandem/internal/largemsg"
	"tandem/internal/paging"
	"tandem/internal/security"
	"tandem/internal/selector"
	"tandem/internal/store"
)

// compileSelector compiles JMS selectors for the broker's consumers and
// queue filters.
func compileSelector(sel string) (broker.Filter, error) {
	s, err := selector.Compile(sel)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// authAdapter is the one authenticator of every protocol adapter and the
// web port, on security's users.
type authAdapter struct{ a *security.Authenticator }

var _ protocol.Authenticator = authAdapter{}

// Authenticate implements protocol.Authenticator, throttled per client
// address when the address is known.
func (a authAdapter) Authenticate(source, login, pass string) (protocol.Identity, error) {
	var p security.Principal
	var err error
	if source == "" {
		p, err = a.a.Authenticate(login, pass)
	} else {
		p, err = a.a.AuthenticateFrom(source, login, pass)
	}
	if err != nil {
		return protocol.Identity{}, err
	}
	return protocol.Identity{User: p.User, Roles: p.Roles}, nil
}

// AuthenticateCertificate implements the AMQP adapter's
// CertificateAuthenticator: a client certificate the TLS layer verified
// logs in as the user its common name names.
func (a authAdapter) AuthenticateCertificate(_ string, cert *x509.Certificate) (protocol.Identity, error) {
	p, err := a.a.AuthenticateCertified(cert.Subject.CommonName)
	if err != nil {
		return protocol.Identity{}, err
	}
	return protocol.Identity{User: p.User, Roles: p.Roles}, nil
}

// permAdapter lets the broker check security-settings. With exists, a
// user that is no longer in the users file may do nothing, whatever roles
// its connection logged in with: removing a user takes effect on its open
// connections within the users file's reload period.
type permAdapter struct {
	p      *security.Permissions // nil: no security-settings, everything allowed
	exists func(user string) bool
	// gen, set with exists, changes whenever the users do.
	gen func() uint64
}

// Generation lets the broker keep a permitted decision until the users
// change (broker.GenerationAuthorizer); security-settings do not change
// while the broker runs.
func (a permAdapter) Generation() uint64 {
	if a.gen == nil {
		return 0
	}
	return a.gen()
}

func (a permAdapter) Authorize(user string, roles []string, perm broker.Permission, address string) bool {
	if a.exists != nil && user != security.AnonymousUser && !a.exists(user) {
		return false
	}
	return a.p == nil || a.p.Check(security.Principal{User: user, Roles: roles}, security.Permission(perm), address)
}

// brokerSettings resolves broker.yaml's address-settings into the plain
// form the broker uses.
func brokerSettings(cfg *config.Config) func(string) broker.AddressSettings {
	return func(addr string) broker.AddressSettings {
		s := cfg.AddressSettingsFor(addr)
		out := broker.AddressSettings{
			AutoCreateQueues:             s.AutoCreateQueues,
			AutoCreateAddresses:          s.AutoCreateAddresses,
			AutoDeleteQueues:             s.AutoDeleteQueues,
			AutoDeleteAddresses:          s.AutoDeleteAddresses,
			AutoDeleteQueuesDelay:        s.AutoDeleteQueuesDelay,
			AutoDeleteQueuesMessageCount: s.AutoDeleteQueuesMessageCount,
			AutoDeleteAddressesDelay:     s.AutoDeleteAddressesDelay,
			DeadLetterAddress:            s.DeadLetterAddress,
			ExpiryAddress:                s.ExpiryAddress,
			MaxDeliveryAttempts:          s.MaxDeliveryAttempts,
			RedeliveryDelay:              s.RedeliveryDelay,
			RedeliveryMultiplier:         s.RedeliveryDelayMultiplier,
			MaxRedeliveryDelay:           s.MaxRedeliveryDelay,
			MaxSizeBytes:                 s.MaxSizeBytes,
			DefaultLastValue:             s.DefaultLastValueQueue,
			DefaultExclusive:             s.DefaultExclusiveQueue,
			MinLargeMessageSize:          s.MinLargeMessageSize,
			DefaultConsumerWindowSize:    s.DefaultConsumerWindowSize,
		}
		if s.ExpiryDelay > 0 {
			out.ExpiryDelay = s.ExpiryDelay
		}
		switch s.AddressFullPolicy {
		case config.PolicyBlock:
			out.FullPolicy = broker.FullBlock
		case config.PolicyFail:
			out.FullPolicy = broker.FullFail
		case config.PolicyDrop:
			out.FullPolicy = broker.FullDrop
		default:
			out.FullPolicy = broker.FullPage
		}
		return out
	}
}

// brokerAddresses converts broker.yaml's addresses section.
func brokerAddresses(cfg *config.Config) []broker.AddressConfig {
	out := make([]broker.AddressConfig, 0, len(cfg.Addresses))
	for _, a := range cfg.Addresses {
		ac := broker.AddressConfig{Name: a.Name}
		for _, rt := range a.RoutingTypes {
			if rt == config.Multicast {
				ac.Multicast = true
			} else {
				ac.Anycast = true
			}
		}
		for _, q := range a.Queues {
			qc := broker.QueueConfig{Name: q.Name, Address: a.Name, Durable: q.Durable, Filter: q.Filter,
				MaxConsumers: q.MaxConsumers, Exclusive: q.Exclusive, LastValue: q.LastValue, LastValueKey: q.LastValueKey}
			if q.RoutingType == config.Multicast {
				qc.RoutingType = 1
			}
			ac.Queues = append(ac.Queues, qc)
		}
		out = append(out, ac)
	}
	return out
}

// openPager opens the paging directory for addresses whose
// address-full-policy is PAGE. Without persistence nothing is paged: a
// broker that keeps messages in memory only keeps them all there.
func (s *Server) openPager(fence *store.Fence) (*paging.Pager, error) {
	if !s.cfg.PersistenceEnabled || s.cfg.Database() {
		return nil, nil
	}
	p, err := paging.New(paging.Options{
		Dir:      s.cfg.PagingDirectory,
		PageSize: func(addr string) int64 { return s.cfg.AddressSettingsFor(addr).PageSizeBytes },
		NoSync:   !s.cfg.JournalSync,
		Fence:    fence,
	})
	if err != nil {
		return nil, fmt.Errorf("open the paging directory: %w", err)
	}
	return p, nil
}

func (s *Server) closePager() {
	if s.pager != nil {
		if err := s.pager.Close(); err != nil {
			s.log.Warn("closing page files failed", "err", err)
		}
		s.pager = nil
	}
}

// pagerOrNil keeps a nil *paging.Pager from becoming a non-nil interface.
func pagerOrNil(p *paging.Pager) store.Pager {
	if p == nil {
		return nil
	}
	return p
}

// openLarge opens the large-messages directory. Without persistence there
// is none: every body stays in memory.
func (s *Server) openLarge(st store.Store, fence *store.Fence) (store.LargeStore, error) {
	if !s.cfg.PersistenceEnabled {
		return nil, nil
	}
	if s.cfg.Database() {
		return s.databaseLarge(), nil
	}
	ls, err := largemsg.Open(largemsg.Options{Dir: s.cfg.LargeMessagesDirectory, NewID: st.NewID, Sync: s.cfg.JournalSync, Fence: fence})
	if err != nil {
		return nil, fmt.Errorf("open the large-messages directory: %w", err)
	}
	return ls, nil
}
