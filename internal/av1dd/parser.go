package av1dd

// URI names the extension in SDP (A.5).
const URI = "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension"

// Descriptor is one packet's dependency descriptor, resolved against the
// frame dependency structure. Its slices point into the Structure or the
// Parser and are valid until the next Parse.
type Descriptor struct {
	// Mandatory fields.
	StartOfFrame, EndOfFrame bool
	TemplateID               uint8
	FrameNumber              uint16
	// NewStructure: this packet carried a frame dependency structure,
	// the first packet of a coded video sequence (a keyframe).
	NewStructure bool
	// ActiveDecodeTargets is the bitmask of the decode targets the sender
	// produces (bit i: decode target i), as last sent.
	ActiveDecodeTargets uint32
	// The frame's layer and relations, from its template or the
	// descriptor's custom fields.
	Spatial, Temporal uint8
	DTIs              DTIs
	Fdiffs            []uint16
	Chains            []uint8
	// Structure is the structure the packet was resolved against.
	Structure *Structure
}

// Parser reads the dependency descriptors of one RTP stream, in order,
// keeping the latest frame dependency structure and active decode targets.
// The zero value is ready to use.
type Parser struct {
	cur     *Structure
	scratch Structure
	active  uint32
	fdiffs  []uint16
	chains  [MaxDecodeTargets]uint8
}

// Structure is the latest frame dependency structure, or nil.
func (p *Parser) Structure() *Structure { return p.cur }

// Parse reads one packet's descriptor, the extension's payload (A.4.1
// dependency_descriptor, sz = len(ext)). On error the mandatory fields
// are filled when ext has them; the structure is kept unless the packet
// brought a new one that could not be read.
func (p *Parser) Parse(ext []byte) (Descriptor, error) {
	var d Descriptor
	if len(ext) < 3 {
		return d, ErrShort
	}
	r := bitReader{b: ext}
	d.StartOfFrame = r.flag()
	d.EndOfFrame = r.flag()
	d.TemplateID = uint8(r.f(6))
	d.FrameNumber = uint16(r.f(16))
	var customDTIs, customFdiffs, customChains bool
	if len(ext) > 3 {
		structurePresent := r.flag()
		activePresent := r.flag()
		customDTIs = r.flag()
		customFdiffs = r.flag()
		customChains = r.flag()
		if structurePresent {
			if err := p.scratch.parse(&r); err != nil {
				return d, err
			}
			if p.cur == nil || !p.cur.equal(&p.scratch) {
				p.cur = p.scratch.clone()
			}
			p.active = uint32(1)<<p.cur.DecodeTargets - 1
			d.NewStructure = true
		}
		if activePresent {
			if p.cur == nil {
				return d, ErrNoStructure
			}
			p.active = r.f(p.cur.DecodeTargets)
		}
	}
	s := p.cur
	if s == nil {
		return d, ErrNoStructure
	}
	t := s.template(d.TemplateID)
	if t == nil {
		return d, ErrUnknownTemplate
	}
	d.Structure = s
	d.ActiveDecodeTargets = p.active
	d.Spatial, d.Temporal = t.Spatial, t.Temporal
	d.DTIs = t.DTIs
	if customDTIs {
		var dtis DTIs
		for dt := range s.DecodeTargets {
			dtis |= DTIs(r.f(2)) << (2 * dt)
		}
		d.DTIs = dtis
	}
	d.Fdiffs = t.Fdiffs
	if customFdiffs {
		p.fdiffs = p.fdiffs[:0]
		for size := r.f(2); size != 0 && !r.short; size = r.f(2) {
			p.fdiffs = append(p.fdiffs, uint16(r.f(4*int(size)))+1)
		}
		d.Fdiffs = p.fdiffs
	}
	d.Chains = p.chains[:s.ChainCount]
	for i := range s.ChainCount {
		if customChains {
			p.chains[i] = uint8(r.f(8))
		} else {
			p.chains[i] = t.Chains[i]
		}
	}
	if r.short {
		d.Structure = nil
		return d, ErrShort
	}
	return d, nil
}
