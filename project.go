package webhookd

import (
	"context"
	"strings"
)

// ProjectFinder is the part of Store that finds projects.
type ProjectFinder interface {
	GetProject(ctx context.Context, id string) (*Project, error)
	FindProjectByName(ctx context.Context, name string) (*Project, error)
}

// FindProject returns the project that ref names: its id, or else its name.
// It is how the CLI's --project and the API's projects/{project} read a
// project reference, so that both accept the same spellings. A reference
// that names no project answers ENOTFOUND.
func FindProject(ctx context.Context, st ProjectFinder, ref string) (*Project, error) {
	if ref == "" {
		return nil, NotFound("Project")
	}
	if strings.HasPrefix(ref, PrefixProject) {
		p, err := st.GetProject(ctx, ref)
		if ErrorCode(err) != ENOTFOUND {
			return p, err
		}
	}
	p, err := st.FindProjectByName(ctx, ref)
	if ErrorCode(err) == ENOTFOUND {
		return nil, Errorf(ENOTFOUND, "Project %q not found.", ref)
	}
	return p, err
}
