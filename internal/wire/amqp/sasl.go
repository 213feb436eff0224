package amqp

// SASLPerformative is one of the five SASL frame bodies: *SASLMechanisms,
// *SASLInit, *SASLChallenge, *SASLResponse, *SASLOutcome.
type SASLPerformative interface {
	FrameBody
	saslPerformative()
}

// SASLCode is the result code of a SASL exchange.
type SASLCode uint8

// The SASL outcome codes.
const (
	SASLOK      SASLCode = 0 // authentication succeeded
	SASLAuth    SASLCode = 1 // bad credentials
	SASLSys     SASLCode = 2 // system error, unspecified
	SASLSysPerm SASLCode = 3 // system error, permanent
	SASLSysTemp SASLCode = 4 // system error, transient
)

// The SASL mechanisms tandem offers.
const (
	SASLMechanismAnonymous Symbol = "ANONYMOUS"
	SASLMechanismPlain     Symbol = "PLAIN"
	SASLMechanismExternal  Symbol = "EXTERNAL"
)

// SASLMechanisms is the server's list of mechanisms, its first SASL frame.
type SASLMechanisms struct {
	Mechanisms []Symbol
}

// SASLInit is the client's choice of mechanism with its first response.
type SASLInit struct {
	Mechanism       Symbol
	InitialResponse []byte // nil: absent
	Hostname        string
}

// SASLChallenge is a server challenge.
type SASLChallenge struct {
	Challenge []byte
}

// SASLResponse is a client response to a challenge.
type SASLResponse struct {
	Response []byte
}

// SASLOutcome ends the SASL exchange.
type SASLOutcome struct {
	Code           SASLCode
	AdditionalData []byte // nil: absent
}

func (*SASLMechanisms) saslPerformative() {}
func (*SASLInit) saslPerformative()       {}
func (*SASLChallenge) saslPerformative()  {}
func (*SASLResponse) saslPerformative()   {}
func (*SASLOutcome) saslPerformative()    {}

func (*SASLMechanisms) frameType() FrameType { return FrameSASL }
func (*SASLInit) frameType() FrameType       { return FrameSASL }
func (*SASLChallenge) frameType() FrameType  { return FrameSASL }
func (*SASLResponse) frameType() FrameType   { return FrameSASL }
func (*SASLOutcome) frameType() FrameType    { return FrameSASL }

func (p *SASLMechanisms) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descSASLMechanisms)
	mechs := p.Mechanisms
	if mechs == nil {
		mechs = []Symbol{} // mandatory: an empty array rather than null
	}
	b, err := w.symbols(b, mechs)
	if err != nil {
		return b, err
	}
	return w.finish(b)
}

func (p *SASLInit) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descSASLInit)
	b = w.set(appendSymbol(b, p.Mechanism))
	b = w.binary(b, p.InitialResponse, p.InitialResponse != nil)
	b = w.str(b, p.Hostname, p.Hostname != "")
	return w.finish(b)
}

func (p *SASLChallenge) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descSASLChallenge)
	b = w.binary(b, p.Challenge, true)
	return w.finish(b)
}

func (p *SASLResponse) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descSASLResponse)
	b = w.binary(b, p.Response, true)
	return w.finish(b)
}

func (p *SASLOutcome) appendTo(b []byte) ([]byte, error) {
	b, w := beginComposite(b, descSASLOutcome)
	b = w.ubyte(b, uint8(p.Code), true)
	b = w.binary(b, p.AdditionalData, p.AdditionalData != nil)
	return w.finish(b)
}

// DecodeSASL decodes the body of a SASL frame.
func DecodeSASL(body []byte) (SASLPerformative, error) {
	d := decoder{b: body}
	code, err := d.readByte()
	if err != nil {
		return nil, err
	}
	if code != codeDescribed {
		return nil, decodeErr("SASL frame body starts with format code 0x%02x, not a described performative", code)
	}
	desc, sym, err := d.descriptor()
	if err != nil {
		return nil, err
	}
	var p SASLPerformative
	switch desc {
	case descSASLMechanisms:
		p, err = d.decodeSASLMechanisms()
	case descSASLInit:
		p, err = d.decodeSASLInit()
	case descSASLChallenge:
		var c []byte
		c, err = d.decodeSASLBinary("sasl-challenge", "challenge")
		p = &SASLChallenge{Challenge: c}
	case descSASLResponse:
		var r []byte
		r, err = d.decodeSASLBinary("sasl-response", "response")
		p = &SASLResponse{Response: r}
	case descSASLOutcome:
		p, err = d.decodeSASLOutcome()
	default:
		return nil, errUnknown(desc, sym, "a SASL frame")
	}
	if err != nil {
		return nil, err
	}
	if d.i != len(body) {
		return nil, decodeErr("%d bytes after the %s performative", len(body)-d.i, descriptorName(desc))
	}
	return p, nil
}

func (d *decoder) decodeSASLMechanisms() (*SASLMechanisms, error) {
	f, err := d.compositeFields("sasl-mechanisms")
	if err != nil {
		return nil, err
	}
	p := &SASLMechanisms{}
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			p.Mechanisms, err = d.readSymbols()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, fieldErr("sasl-mechanisms", fieldName(i, "sasl-server-mechanisms"), err)
		}
	}
	if p.Mechanisms == nil {
		return nil, decodeErr("sasl-mechanisms: mandatory sasl-server-mechanisms missing")
	}
	return p, f.done("sasl-mechanisms")
}

func (d *decoder) decodeSASLInit() (*SASLInit, error) {
	f, err := d.compositeFields("sasl-init")
	if err != nil {
		return nil, err
	}
	p := &SASLInit{}
	var has bool
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			p.Mechanism, has, err = d.readSymbol()
		case 1:
			p.InitialResponse, _, err = d.readBinary()
		case 2:
			p.Hostname, _, err = d.readString()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, fieldErr("sasl-init", fieldName(i, "mechanism", "initial-response", "hostname"), err)
		}
	}
	if !has {
		return nil, decodeErr("sasl-init: mandatory mechanism missing")
	}
	return p, f.done("sasl-init")
}

func (d *decoder) decodeSASLBinary(name, field string) ([]byte, error) {
	f, err := d.compositeFields(name)
	if err != nil {
		return nil, err
	}
	var v []byte
	var has bool
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			v, has, err = d.readBinary()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, fieldErr(name, fieldName(i, field), err)
		}
	}
	if !has {
		return nil, decodeErr("%s: mandatory %s missing", name, field)
	}
	if v == nil {
		v = []byte{}
	}
	return v, f.done(name)
}

func (d *decoder) decodeSASLOutcome() (*SASLOutcome, error) {
	f, err := d.compositeFields("sasl-outcome")
	if err != nil {
		return nil, err
	}
	p := &SASLOutcome{}
	var has bool
	for {
		i, ok := f.next()
		if !ok {
			break
		}
		switch i {
		case 0:
			var c uint8
			c, has, err = d.readUint8()
			p.Code = SASLCode(c)
		case 1:
			p.AdditionalData, _, err = d.readBinary()
		default:
			err = f.skip()
		}
		if err != nil {
			return nil, fieldErr("sasl-outcome", fieldName(i, "code", "additional-data"), err)
		}
	}
	if !has {
		return nil, decodeErr("sasl-outcome: mandatory code missing")
	}
	return p, f.done("sasl-outcome")
}

// PlainCredentials splits a SASL PLAIN initial response
// (authzid NUL authcid NUL password) into its parts.
func PlainCredentials(resp []byte) (authzid, user, password string, ok bool) {
	first, second := -1, -1
	for i, c := range resp {
		if c != 0 {
			continue
		}
		if first < 0 {
			first = i
		} else if second < 0 {
			second = i
		} else {
			return "", "", "", false
		}
	}
	if second < 0 {
		return "", "", "", false
	}
	return string(resp[:first]), string(resp[first+1 : second]), string(resp[second+1:]), true
}

// PlainResponse builds a SASL PLAIN initial response.
func PlainResponse(user, password string) []byte {
	b := make([]byte, 0, len(user)+len(password)+2)
	b = append(b, 0)
	b = append(b, user...)
	b = append(b, 0)
	return append(b, password...)
}
