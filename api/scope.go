package api

import (
	"net/http"
	"strings"

	"github.com/webhookd/webhookd"
)

// matchScoped is match for a path that may name its project first:
// /v1/projects/{project}/webhooks/W is /v1/webhooks/W of that project.
// scope is the project reference the path named ("" when none). A path
// that matches a route as written (the admin's /projects routes) is that
// route; only a path that matches none is read as a project's resource.
func matchScoped(table []route, method, escaped string) (rt *route, vars []string, scope string, m *miss) {
	rt, vars, m = match(table, method, escaped)
	if m == nil || len(m.allow) > 0 {
		return rt, vars, "", m
	}
	version, below, ok := strings.Cut(strings.TrimPrefix(escaped, "/"), "/")
	if !ok {
		return nil, nil, "", m
	}
	project, rest, ok := scopedPath("/" + below)
	if !ok {
		return nil, nil, "", m
	}
	srt, svars, sm := match(table, method, "/"+version+rest)
	if sm != nil {
		sm.path = escaped
		return nil, nil, "", sm
	}
	if isProjectRoute(srt.template) {
		return nil, nil, "", m // no nesting: projects/A/projects/B
	}
	return srt, svars, project, nil
}

// authorize decides whether p may call rt, and sets the project the
// handler acts on: the one the path names (projects/{project}/… or an
// admin route's {project}), or else the caller's own. Another project's
// resources answer 404, as they always have, so that a key learns nothing
// of projects it cannot see; a route beyond the caller's role answers 403.
func (s *Server) authorize(r *http.Request, ri *requestInfo, rt *route, p *principal, scope string) error {
	if scope == "" && isProjectRoute(rt.template) {
		scope = r.PathValue("project")
	}
	project := p.projectID
	if scope != "" {
		pr, err := webhookd.FindProject(r.Context(), s.cfg.Store, scope)
		if err != nil {
			return err
		}
		if p.kind != principalAdmin && pr.ID != p.projectID {
			return webhookd.Errorf(webhookd.ENOTFOUND, "Project %q not found.", scope)
		}
		project = pr.ID
	}
	need := routeAccess(rt.method, rt.template)
	if p.level < need {
		return webhookd.Errorf(webhookd.EPERMISSION, "This credential may not call %s %s.", rt.method, ri.route)
	}
	if project == "" && rt.template != "/projects" {
		return webhookd.Errorf(webhookd.EINVALID,
			"The admin key acts on one project at a time: name it in the path, as /v1/projects/{project}%s.", rt.template)
	}
	if !p.allows(need, project) {
		return webhookd.Errorf(webhookd.ENOTFOUND, "Project %q not found.", scope)
	}
	ri.projectID = project
	ri.principal = p
	return nil
}
