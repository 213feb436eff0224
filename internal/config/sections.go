package config

import (
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"tandem/internal/tlsconfig"
)

// config decodes the top-level mapping of broker.yaml into c, which holds
// the defaults for whatever the file leaves out.
func (d *decoder) config(root *yaml.Node, c *Config) {
	root = d.deref(root)
	if root.Kind != yaml.MappingNode && !isNull(root) {
		d.problem(root.Line, "", "broker.yaml must be a mapping of keys such as name, acceptors, journal-directory; found %s", describe(root))
		return
	}
	sizeOf := d.size
	d.mapping(root, "", map[string]handler{
		"name":                     to(&c.Name, d.str),
		"acceptors":                func(v *yaml.Node, p string) { c.Acceptors = d.acceptors(v, p) },
		"web":                      func(v *yaml.Node, p string) { d.web(v, p, &c.Web) },
		"journal-directory":        to(&c.JournalDirectory, d.str),
		"bindings-directory":       to(&c.BindingsDirectory, d.str),
		"paging-directory":         to(&c.PagingDirectory, d.str),
		"large-messages-directory": to(&c.LargeMessagesDirectory, d.str),
		"journal-file-size":        to(&c.JournalFileSize, sizeOf),
		"journal-min-files":        to(&c.JournalMinFiles, d.integer),
		"journal-type":             to(&c.JournalType, enum(d, parseJournalType, "ASYNCIO or NIO")),
		"journal-sync":             to(&c.JournalSync, d.boolean),
		// Artemis counts journal-buffer-timeout in nanoseconds.
		"journal-buffer-timeout":           to(&c.JournalBufferTimeout, d.durationIn(time.Nanosecond, "nanoseconds")),
		"journal-compact-min-files":        to(&c.JournalCompactMinFiles, d.integer),
		"journal-compact-percentage":       to(&c.JournalCompactPercentage, d.integer),
		"id-cache-size":                    to(&c.IDCacheSize, d.integer),
		"persistence-enabled":              to(&c.PersistenceEnabled, d.boolean),
		"store":                            func(v *yaml.Node, p string) { d.store(v, p, &c.Store) },
		"global-max-size":                  func(v *yaml.Node, p string) { d.globalMaxSize(v, p, c) },
		"producer-window-size":             to(&c.ProducerWindowSize, sizeOf),
		"max-frame-size":                   to(&c.MaxFrameSize, sizeOf),
		"max-connections":                  to(&c.MaxConnections, d.integer),
		"max-connections-per-ip":           to(&c.Limits.MaxConnectionsPerIP, d.integer),
		"max-connections-per-user":         to(&c.Limits.MaxConnectionsPerUser, d.integer),
		"max-headers":                      to(&c.Limits.MaxHeaders, d.integer),
		"max-header-size":                  to(&c.Limits.MaxHeaderSize, sizeOf),
		"max-subscriptions-per-connection": to(&c.Limits.MaxSubscriptions, d.integer),
		"max-destination-name-length":      to(&c.Limits.MaxDestinationLength, d.integer),
		"handshake-timeout":                to(&c.Limits.HandshakeTimeout, d.durationIn(time.Second, "seconds")),
		"websocket-allowed-origins": func(v *yaml.Node, p string) {
			if l, ok := d.stringList(v, p); ok {
				c.WebSocketAllowedOrigins = l
			}
		},
		"mqtt":                func(v *yaml.Node, p string) { d.mqtt(v, p, &c.MQTT) },
		"security":            func(v *yaml.Node, p string) { d.security(v, p, &c.Security) },
		"security-settings":   func(v *yaml.Node, p string) { c.SecuritySettings = d.securitySettings(v, p) },
		"address-settings":    func(v *yaml.Node, p string) { c.AddressSettings = d.addressSettings(v, p) },
		"addresses":           func(v *yaml.Node, p string) { c.Addresses = d.addresses(v, p) },
		"ha-policy":           func(v *yaml.Node, p string) { d.haPolicy(v, p, &c.HA) },
		"connectors":          func(v *yaml.Node, p string) { c.Connectors = d.connectors(v, p) },
		"cluster-connections": func(v *yaml.Node, p string) { c.ClusterConnections = d.clusterConnections(v, p) },
		"log":                 func(v *yaml.Node, p string) { d.log(v, p, &c.Log) },
	})
}

func (d *decoder) acceptors(n *yaml.Node, path string) []Acceptor {
	var out []Acceptor
	d.sequence(n, path, "acceptors ({name, url})", func(_ int, v *yaml.Node, p string) {
		a := Acceptor{Options: map[string]string{}}
		d.mapping(v, p, map[string]handler{
			"name": to(&a.Name, d.str),
			"url":  to(&a.URL, d.str),
		})
		// A bad URL is reported by Validate, which also covers
		// configurations built in code.
		if _, _, opts, err := splitURL(a.URL); err == nil {
			a.Options = opts
		}
		out = append(out, a)
	})
	return out
}

func (d *decoder) web(n *yaml.Node, path string, w *Web) {
	d.mapping(n, path, map[string]handler{
		"bind":    to(&w.Bind, d.str),
		"enabled": to(&w.Enabled, d.boolean),
		"tls":     func(v *yaml.Node, p string) { w.TLS = d.webTLS(v, p) },
	})
}

// webTLS reads web.tls, a mapping of TLS option names to values.
func (d *decoder) webTLS(n *yaml.Node, path string) map[string]string {
	out := make(map[string]string)
	names := tlsconfig.ServerOptions()
	handlers := make(map[string]handler, len(names))
	for _, name := range names {
		handlers[name] = func(v *yaml.Node, p string) {
			if s, ok := d.str(v, p); ok {
				out[name] = s
			}
		}
	}
	d.mapping(n, path, handlers)
	return out
}

func (d *decoder) mqtt(n *yaml.Node, path string, m *MQTT) {
	secs := d.durationIn(time.Second, "seconds")
	d.mapping(n, path, map[string]handler{
		"default-session-expiry":   to(&m.DefaultSessionExpiry, secs),
		"receive-maximum":          to(&m.ReceiveMaximum, d.integer),
		"topic-alias-maximum":      to(&m.TopicAliasMaximum, d.integer),
		"server-keep-alive":        to(&m.ServerKeepAlive, secs),
		"retained-delivery-rate":   to(&m.RetainedDeliveryRate, d.integer),
		"close-on-publish-refused": to(&m.CloseOnPublishRefused, d.boolean),
	})
	if m.DefaultSessionExpiry < 0 {
		m.DefaultSessionExpiry = -time.Second // every negative value means for ever, written -1
	}
}

func (d *decoder) security(n *yaml.Node, path string, s *Security) {
	d.mapping(n, path, map[string]handler{
		"allow-anonymous": to(&s.AllowAnonymous, d.boolean),
		"users-file":      to(&s.UsersFile, d.str),
		"anonymous-role":  to(&s.AnonymousRole, d.str),
	})
}

func (d *decoder) securitySettings(n *yaml.Node, path string) []SecuritySetting {
	var out []SecuritySetting
	d.entries(n, path, "address patterns to permissions", func(match string, _, v *yaml.Node, p string) {
		out = append(out, SecuritySetting{Match: match, Permissions: d.permissionsOf(v, p)})
	})
	return out
}

func (d *decoder) addressSettings(n *yaml.Node, path string) []AddressSetting {
	var out []AddressSetting
	routing := enum(d, parseRoutingType, "ANYCAST or MULTICAST")
	ms := d.durationIn(time.Millisecond, "milliseconds")
	d.entries(n, path, "address patterns to settings", func(match string, _, v *yaml.Node, p string) {
		s := AddressSetting{Match: match}
		d.mapping(v, p, map[string]handler{
			"auto-create-queues":               toPtr(&s.AutoCreateQueues, d.boolean),
			"auto-create-addresses":            toPtr(&s.AutoCreateAddresses, d.boolean),
			"auto-delete-queues":               toPtr(&s.AutoDeleteQueues, d.boolean),
			"auto-delete-addresses":            toPtr(&s.AutoDeleteAddresses, d.boolean),
			"auto-delete-queues-delay":         toPtr(&s.AutoDeleteQueuesDelay, ms),
			"auto-delete-queues-message-count": toPtr(&s.AutoDeleteQueuesMessageCount, d.integer),
			"auto-delete-addresses-delay":      toPtr(&s.AutoDeleteAddressesDelay, ms),
			"dead-letter-address":              toPtr(&s.DeadLetterAddress, d.str),
			"expiry-address":                   toPtr(&s.ExpiryAddress, d.str),
			"expiry-delay": toPtr(&s.ExpiryDelay, func(v *yaml.Node, p string) (time.Duration, bool) {
				x, ok := ms(v, p)
				// -1 (Artemis' "never") arrives as -1ms.
				if ok && x == -time.Millisecond {
					x = NoExpiryDelay
				}
				return x, ok
			}),
			"max-delivery-attempts":        toPtr(&s.MaxDeliveryAttempts, d.integer),
			"redelivery-delay":             toPtr(&s.RedeliveryDelay, ms),
			"redelivery-delay-multiplier":  toPtr(&s.RedeliveryDelayMultiplier, d.float),
			"max-redelivery-delay":         toPtr(&s.MaxRedeliveryDelay, ms),
			"max-size-bytes":               toPtr(&s.MaxSizeBytes, d.size),
			"address-full-policy":          toPtr(&s.AddressFullPolicy, enum(d, parseFullPolicy, "PAGE, BLOCK, FAIL or DROP")),
			"page-size-bytes":              toPtr(&s.PageSizeBytes, d.size),
			"default-last-value-queue":     toPtr(&s.DefaultLastValueQueue, d.boolean),
			"default-exclusive-queue":      toPtr(&s.DefaultExclusiveQueue, d.boolean),
			"default-consumer-window-size": toPtr(&s.DefaultConsumerWindowSize, d.size),
			"default-queue-routing-type":   toPtr(&s.DefaultQueueRoutingType, routing),
			"default-address-routing-type": toPtr(&s.DefaultAddressRoutingType, routing),
			"min-large-message-size":       toPtr(&s.MinLargeMessageSize, d.size),
		})
		out = append(out, s)
	})
	return out
}

func (d *decoder) addresses(n *yaml.Node, path string) []Address {
	var out []Address
	routing := enum(d, parseRoutingType, "ANYCAST or MULTICAST")
	d.sequence(n, path, "addresses ({name, routing-types, queues})", func(_ int, v *yaml.Node, p string) {
		var a Address
		d.mapping(v, p, map[string]handler{
			"name": to(&a.Name, d.str),
			"routing-types": func(v *yaml.Node, p string) {
				words, ok := d.stringList(v, p)
				if !ok {
					return
				}
				for _, w := range words {
					if rt, ok := parseRoutingType(w); ok {
						a.RoutingTypes = append(a.RoutingTypes, rt)
					} else {
						d.problem(d.lines[p], p, "%q is not a routing type; expected ANYCAST or MULTICAST", w)
					}
				}
			},
			"queues": func(v *yaml.Node, p string) {
				d.sequence(v, p, "queues ({name, routing-type, ...})", func(_ int, v *yaml.Node, p string) {
					q := Queue{Durable: true, MaxConsumers: -1}
					d.mapping(v, p, map[string]handler{
						"name":           to(&q.Name, d.str),
						"routing-type":   to(&q.RoutingType, routing),
						"durable":        to(&q.Durable, d.boolean),
						"filter":         to(&q.Filter, d.str),
						"max-consumers":  to(&q.MaxConsumers, d.integer),
						"exclusive":      to(&q.Exclusive, d.boolean),
						"last-value":     to(&q.LastValue, d.boolean),
						"last-value-key": to(&q.LastValueKey, d.str),
					})
					// Naming a last-value key makes a last-value queue,
					// as in Artemis.
					if q.LastValueKey != "" {
						q.LastValue = true
					}
					a.Queues = append(a.Queues, q)
				})
			},
		})
		defaultRoutingTypes(&a)
		out = append(out, a)
	})
	return out
}

// defaultRoutingTypes fills what an address entry leaves out: without
// routing-types the address gets those of its queues (ANYCAST if it has
// none), and a queue without routing-type gets its address's type when the
// address has only one, ANYCAST otherwise.
func defaultRoutingTypes(a *Address) {
	if len(a.RoutingTypes) == 0 {
		for _, q := range a.Queues {
			if q.RoutingType != "" && !containsRT(a.RoutingTypes, q.RoutingType) {
				a.RoutingTypes = append(a.RoutingTypes, q.RoutingType)
			}
		}
		if len(a.RoutingTypes) == 0 {
			a.RoutingTypes = []RoutingType{Anycast}
		}
	}
	for i := range a.Queues {
		if a.Queues[i].RoutingType == "" {
			a.Queues[i].RoutingType = Anycast
			if len(a.RoutingTypes) == 1 {
				a.Queues[i].RoutingType = a.RoutingTypes[0]
			}
		}
	}
}

func containsRT(list []RoutingType, rt RoutingType) bool {
	for _, x := range list {
		if x == rt {
			return true
		}
	}
	return false
}

// haPolicy decodes ha-policy. It accepts the full form
//
//	ha-policy:
//	  shared-store:
//	    primary:            # or master; backup or slave
//	      failover-on-shutdown: true
//
// and the short form "ha-policy: {shared-store: primary}".
func (d *decoder) haPolicy(n *yaml.Node, path string, ha *HAPolicy) {
	d.mapping(n, path, map[string]handler{
		"shared-store": func(v *yaml.Node, p string) { d.sharedStore(v, p, ha) },
		"replication": func(v *yaml.Node, p string) {
			d.problem(d.lines[p], p, "replication is not supported: tandem's high availability uses a shared store; use shared-store: primary or backup")
		},
		"live-only": func(v *yaml.Node, p string) { *ha = HAPolicy{Mode: HANone} },
	})
}

func (d *decoder) sharedStore(n *yaml.Node, path string, ha *HAPolicy) {
	n = d.deref(n)
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		mode, ok := parseHAMode(n.Value)
		if !ok {
			d.problem(n.Line, path, "%q is not a shared-store role; expected primary or backup (master or slave)", n.Value)
			return
		}
		*ha = HAPolicy{Mode: mode, AllowFailback: mode == HABackup}
		return
	}
	roles := 0
	role := func(mode HAMode) handler {
		return func(v *yaml.Node, p string) {
			roles++
			if roles > 1 {
				d.problem(d.lines[p], path, "both a primary and a backup role are set; a node is one or the other, keep one")
				return
			}
			*ha = HAPolicy{Mode: mode, AllowFailback: mode == HABackup}
			fields := map[string]handler{
				"failover-on-shutdown": to(&ha.FailoverOnShutdown, d.boolean),
				"standby-reserve":      func(v *yaml.Node, p string) { d.standbyReserve(v, p, ha) },
				"lock-check-period":    to(&ha.LockCheckPeriod, d.durationIn(time.Millisecond, "milliseconds")),
				"lock-stall-timeout":   to(&ha.LockStallTimeout, d.durationIn(time.Millisecond, "milliseconds")),
			}
			if mode == HABackup {
				fields["allow-failback"] = to(&ha.AllowFailback, d.boolean)
			}
			d.mapping(v, p, fields)
		}
	}
	d.mapping(n, path, map[string]handler{
		"primary": role(HAPrimary), "master": role(HAPrimary),
		"backup": role(HABackup), "slave": role(HABackup),
	})
	if roles == 0 {
		d.problem(n.Line, path, "no role given; set primary or backup, e.g. shared-store: primary")
	}
}

// standbyReserve reads standby-reserve: auto, off (or 0), or a size.
func (d *decoder) standbyReserve(n *yaml.Node, p string, ha *HAPolicy) {
	s, ok := d.scalar(n, p, "auto, off or a size")
	if !ok {
		return
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "auto":
		ha.StandbyReserve, ha.StandbyReserveOff = 0, false
		return
	case "off", "false", "0":
		ha.StandbyReserve, ha.StandbyReserveOff = 0, true
		return
	}
	v, err := ParseSize(s)
	if err != nil || v < 0 {
		d.problem(d.deref(n).Line, p, "%q is not a standby reserve; expected auto, off, or a size such as 512MiB or 2GiB", s)
		return
	}
	ha.StandbyReserve, ha.StandbyReserveOff = v, false
}

func (d *decoder) connectors(n *yaml.Node, path string) []Connector {
	var out []Connector
	d.entries(n, path, "connector names to URLs", func(name string, _, v *yaml.Node, p string) {
		if u, ok := d.str(v, p); ok {
			out = append(out, Connector{Name: name, URL: u})
		}
	})
	return out
}

func (d *decoder) clusterConnections(n *yaml.Node, path string) []ClusterConnection {
	var out []ClusterConnection
	d.sequence(n, path, "cluster connections ({name, connector-ref, static-connectors})", func(_ int, v *yaml.Node, p string) {
		var cc ClusterConnection
		d.mapping(v, p, map[string]handler{
			"name":              to(&cc.Name, d.str),
			"connector-ref":     to(&cc.ConnectorRef, d.str),
			"static-connectors": to(&cc.StaticConnectors, d.stringList),
			"user":              to(&cc.User, d.str),
			"password":          to(&cc.Password, d.str),
		})
		out = append(out, cc)
	})
	return out
}

func (d *decoder) log(n *yaml.Node, path string, l *Log) {
	d.mapping(n, path, map[string]handler{
		"level":  to(&l.Level, enum(d, parseLogLevel, "debug, info, warn or error")),
		"format": to(&l.Format, enum(d, parseLogFormat, "text or json")),
		"file":   to(&l.File, d.str),
	})
}
