package av1dd

import "slices"

// Limits of the syntax (A.4.1, table A.1).
const (
	// MaxTemplates is MAX_TEMPLATE_ID + 1.
	MaxTemplates = 64
	// MaxSpatial and MaxTemporal are the number of spatial and temporal
	// ids (MAX_SPATIAL_ID + 1, MAX_TEMPORAL_ID + 1).
	MaxSpatial  = 4
	MaxTemporal = 8
	// MaxDecodeTargets follows from dtis_cnt_minus_one's 5 bits.
	MaxDecodeTargets = 32
)

// DTI is a decode target indication (table A.2): how a frame relates to
// one decode target.
type DTI uint8

// Decode target indications.
const (
	NotPresent  DTI = 0 // the frame is not part of the decode target
	Discardable DTI = 1 // part of it, and no later frame of it refers to this one
	Switch      DTI = 2 // forwarding the decode target may start here
	Required    DTI = 3 // part of it, neither discardable nor a switch
)

// DTIs holds the indications of up to 32 decode targets, two bits each,
// decode target i in bits 2i and 2i+1.
type DTIs uint64

// At is the indication for decode target i.
func (d DTIs) At(i int) DTI { return DTI(d >> (2 * i) & 3) }

// Template is one frame dependency template (A.4.1 template_layers,
// template_dtis, template_fdiffs, template_chains).
type Template struct {
	Spatial, Temporal uint8
	DTIs              DTIs
	// Fdiffs are the frame number differences to the referred frames.
	Fdiffs []uint16
	// Chains are the chain fdiffs, one per chain (0..15).
	Chains []uint8
}

// Resolution is a spatial layer's maximum render size.
type Resolution struct{ Width, Height uint16 }

// Structure is a frame dependency structure (A.4.1
// template_dependency_structure). It is not changed once a Parser returned
// it.
type Structure struct {
	// IDOffset is the template id of Templates[0].
	IDOffset uint8
	// DecodeTargets is DtisCnt.
	DecodeTargets int
	Templates     []Template
	// ChainCount is chains_cnt; ProtectedBy[dt] is the chain protecting
	// decode target dt, ChainCount for none.
	ChainCount  int
	ProtectedBy [MaxDecodeTargets]uint8
	// Resolutions, when the structure has them, one per spatial layer.
	Resolutions []Resolution
	// MaxSpatial and MaxTemporal are the highest ids of the templates.
	MaxSpatial, MaxTemporal uint8
	// targetLayer is each decode target's spatial and temporal id: the
	// highest of the templates that are part of it.
	targetSpatial, targetTemporal [MaxDecodeTargets]uint8
	// fdiffs and chains back the templates' Fdiffs and Chains.
	fdiffs []uint16
	chains []uint8
}

// TargetLayer is decode target dt's spatial and temporal id: the highest
// ids of the frames that are part of it.
func (s *Structure) TargetLayer(dt int) (spatial, temporal int) {
	return int(s.targetSpatial[dt]), int(s.targetTemporal[dt])
}

// DecodeTarget returns the decode target whose layer is spatial,
// temporal, or -1 when there is none.
func (s *Structure) DecodeTarget(spatial, temporal int) int {
	for dt := range s.DecodeTargets {
		if int(s.targetSpatial[dt]) == spatial && int(s.targetTemporal[dt]) == temporal {
			return dt
		}
	}
	return -1
}

// template returns the template of a frame_dependency_template_id, or nil
// (A.4.1 frame_dependency_definition).
func (s *Structure) template(id uint8) *Template {
	i := (int(id) + MaxTemplates - int(s.IDOffset)) % MaxTemplates
	if i >= len(s.Templates) {
		return nil
	}
	return &s.Templates[i]
}

// parse reads template_dependency_structure into s, reusing its slices
// (the parser's scratch copy).
func (s *Structure) parse(r *bitReader) error {
	s.IDOffset = uint8(r.f(6))
	s.DecodeTargets = int(r.f(5)) + 1
	// template_layers
	s.Templates = s.Templates[:0]
	var sid, tid uint8
	s.MaxTemporal = 0
	for {
		if len(s.Templates) == MaxTemplates {
			return ErrInvalid
		}
		s.Templates = append(s.Templates, Template{Spatial: sid, Temporal: tid})
		idc := r.f(2)
		if r.short {
			return ErrShort
		}
		if idc == 3 {
			break
		}
		switch idc {
		case 1:
			tid++
			if tid >= MaxTemporal {
				return ErrInvalid
			}
			s.MaxTemporal = max(s.MaxTemporal, tid)
		case 2:
			tid = 0
			sid++
			if sid >= MaxSpatial {
				return ErrInvalid
			}
		}
	}
	s.MaxSpatial = sid
	// template_dtis
	for i := range s.Templates {
		var d DTIs
		for dt := range s.DecodeTargets {
			d |= DTIs(r.f(2)) << (2 * dt)
		}
		s.Templates[i].DTIs = d
	}
	// template_fdiffs: one flat array, cut per template once it is
	// complete (append may move it).
	fdiffs := s.fdiffs[:0]
	var ends [MaxTemplates]int
	for i := range s.Templates {
		for r.flag() {
			fdiffs = append(fdiffs, uint16(r.f(4))+1)
			if r.short {
				return ErrShort
			}
		}
		ends[i] = len(fdiffs)
	}
	start := 0
	for i := range s.Templates {
		s.Templates[i].Fdiffs = fdiffs[start:ends[i]:ends[i]]
		start = ends[i]
	}
	s.fdiffs = fdiffs
	// template_chains
	s.ChainCount = int(r.ns(uint32(s.DecodeTargets) + 1))
	s.ProtectedBy = [MaxDecodeTargets]uint8{}
	chains := s.chains[:0]
	if s.ChainCount > 0 {
		for dt := range s.DecodeTargets {
			s.ProtectedBy[dt] = uint8(r.ns(uint32(s.ChainCount) + 1))
		}
		for range s.Templates {
			for range s.ChainCount {
				chains = append(chains, uint8(r.f(4)))
			}
		}
	}
	for i := range s.Templates {
		s.Templates[i].Chains = chains[i*s.ChainCount : (i+1)*s.ChainCount : (i+1)*s.ChainCount]
	}
	s.chains = chains
	// render_resolutions
	s.Resolutions = s.Resolutions[:0]
	if r.flag() {
		for range int(s.MaxSpatial) + 1 {
			w, h := r.f(16), r.f(16)
			s.Resolutions = append(s.Resolutions, Resolution{Width: uint16(w + 1), Height: uint16(h + 1)})
		}
	}
	if r.short {
		return ErrShort
	}
	s.targetSpatial = [MaxDecodeTargets]uint8{}
	s.targetTemporal = [MaxDecodeTargets]uint8{}
	for _, t := range s.Templates {
		for dt := range s.DecodeTargets {
			if t.DTIs.At(dt) != NotPresent {
				s.targetSpatial[dt] = max(s.targetSpatial[dt], t.Spatial)
				s.targetTemporal[dt] = max(s.targetTemporal[dt], t.Temporal)
			}
		}
	}
	return nil
}

// equal says whether two structures say the same.
func (s *Structure) equal(o *Structure) bool {
	if s.IDOffset != o.IDOffset || s.DecodeTargets != o.DecodeTargets || s.ChainCount != o.ChainCount ||
		s.ProtectedBy != o.ProtectedBy || len(s.Templates) != len(o.Templates) ||
		!slices.Equal(s.Resolutions, o.Resolutions) {
		return false
	}
	for i := range s.Templates {
		a, b := &s.Templates[i], &o.Templates[i]
		if a.Spatial != b.Spatial || a.Temporal != b.Temporal || a.DTIs != b.DTIs ||
			!slices.Equal(a.Fdiffs, b.Fdiffs) || !slices.Equal(a.Chains, b.Chains) {
			return false
		}
	}
	return true
}

// clone returns a copy that shares nothing with s.
func (s *Structure) clone() *Structure {
	c := *s
	c.Templates = make([]Template, len(s.Templates))
	fdiffs := slices.Clone(s.fdiffs)
	chains := slices.Clone(s.chains)
	c.fdiffs, c.chains = fdiffs, chains
	fi, ci := 0, 0
	for i, t := range s.Templates {
		c.Templates[i] = Template{Spatial: t.Spatial, Temporal: t.Temporal, DTIs: t.DTIs,
			Fdiffs: fdiffs[fi : fi+len(t.Fdiffs) : fi+len(t.Fdiffs)],
			Chains: chains[ci : ci+len(t.Chains) : ci+len(t.Chains)]}
		fi += len(t.Fdiffs)
		ci += len(t.Chains)
	}
	c.Resolutions = slices.Clone(s.Resolutions)
	return &c
}
