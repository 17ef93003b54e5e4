package fetch

// PortMapping is a router's forwarding of the Client's listening port
// from outside (Config.MapPort; package portmap keeps one).
type PortMapping interface {
	// ExternalPort is the port peers outside reach the Client at, 0
	// while the port is not forwarded.
	ExternalPort() uint16
	// String says whether and how the port is forwarded, for status
	// displays.
	String() string
	// Close removes the mapping.
	Close() error
}

// needPortMap starts Config.MapPort's mapping, when there is one and it
// has not started yet. The first torrent and the first Resolve call it.
// A closed Client starts nothing.
func (c *Client) needPortMap() {
	if c.cfg.MapPort == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed || c.portMap.Load() != nil {
		return
	}
	pm := c.cfg.MapPort(c.listenPort(), c.portChanged)
	c.portMap.Store(&pm)
}

// portChanged wakes whoever waits on portChanges.
func (c *Client) portChanged() {
	c.mu.Lock()
	defer c.mu.Unlock()
	close(c.portChange)
	c.portChange = make(chan struct{})
}

// portChanges is closed when the mapping's external port next changes.
func (c *Client) portChanges() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.portChange
}

// announcePort is the port peers should connect to, told to trackers,
// the DHT and peers: the port a router forwards to us, else the one we
// listen on.
func (c *Client) announcePort() uint16 {
	if pm := c.portMap.Load(); pm != nil {
		if p := (*pm).ExternalPort(); p != 0 {
			return p
		}
	}
	return c.listenPort()
}

// PortMapping says whether and how the router in front of this host
// forwards the listening port (Config.MapPort), "" when port mapping is
// off or has not started (no torrent yet).
func (c *Client) PortMapping() string {
	if pm := c.portMap.Load(); pm != nil {
		return (*pm).String()
	}
	return ""
}
