package api

import (
	"net/http"
	"strings"

	"github.com/webhookd/webhookd"
)

// The operator's API, for the admin key (Config.AdminKey): projects and
// their API keys, what `webhookd projects` and `webhookd keys` do on the
// command line. With the admin key every project's resources are reached
// by their resource names, /v1/projects/{project}/webhooks/…; {project} is
// a project's id or its name.
//
//	GET    /projects                              {projects}, oldest first
//	POST   /projects                              create {name, audience}
//	GET    /projects/{project}                    get (also a project's own key or portal)
//	PATCH  /projects/{project}?update_mask        update {audience}
//	GET    /projects/{project}/keys               {keys}, oldest first
//	POST   /projects/{project}/keys               create {name} → key_string once
//	POST   /projects/{project}/keys/{key}:revoke  revoke
//	POST   /projects/{project}:createPortalLink   {role, ttl} → {url, expire_time} (also a project's own key)
func (s *Server) adminRoutes() []route {
	return []route{
		newRoute(http.MethodGet, "/projects", s.listProjects),
		newRoute(http.MethodPost, "/projects", s.createProject),
		newRoute(http.MethodGet, "/projects/{project}", s.getProject),
		newRoute(http.MethodPatch, "/projects/{project}", s.updateProject),
		newRoute(http.MethodGet, "/projects/{project}/keys", s.listKeys),
		newRoute(http.MethodPost, "/projects/{project}/keys", s.createKey),
		newRoute(http.MethodPost, "/projects/{project}/keys/{key}:revoke", s.revokeKey),
		newRoute(http.MethodPost, "/projects/{project}:createPortalLink", s.createPortalLink),
	}
}

type projectJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Audience   string `json:"audience,omitempty"`
	CreateTime string `json:"create_time"`
}

func newProjectJSON(p *webhookd.Project) projectJSON {
	return projectJSON{ID: p.ID, Name: p.Name, Audience: p.Audience, CreateTime: formatTime(p.CreateTime)}
}

type keyJSON struct {
	ID         string `json:"id"`
	Name       string `json:"name,omitempty"`
	Prefix     string `json:"prefix"`
	CreateTime string `json:"create_time"`
	RevokeTime string `json:"revoke_time,omitempty"`
	// KeyString is set only in the create response: the one time the key
	// leaves the service.
	KeyString string `json:"key_string,omitempty"`
}

func newKeyJSON(k *webhookd.APIKey) keyJSON {
	return keyJSON{ID: k.ID, Name: k.Name, Prefix: k.Prefix, CreateTime: formatTime(k.CreateTime), RevokeTime: formatTimePtr(k.RevokeTime)}
}

func (s *Server) listProjects(w http.ResponseWriter, r *http.Request) error {
	ps, err := s.cfg.Store.ListProjects(r.Context())
	if err != nil {
		return err
	}
	out := struct {
		Projects []projectJSON `json:"projects"`
	}{Projects: make([]projectJSON, len(ps))}
	for i, p := range ps {
		out.Projects[i] = newProjectJSON(p)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

var (
	createProjectSchema = schema{fields: []string{"name", "audience"}, ignored: []string{"id", "create_time"}}
	updateProjectSchema = schema{fields: []string{"audience"}, ignored: []string{"id", "name", "create_time"}}
	createKeySchema     = schema{fields: []string{"name"}}
)

func (s *Server) createProject(w http.ResponseWriter, r *http.Request) error {
	body, err := s.decodeBody(w, r, createProjectSchema)
	if err != nil {
		return err
	}
	name, _, err := body.string("name")
	if err != nil {
		return err
	}
	if name = strings.TrimSpace(name); name == "" {
		return webhookd.FieldErrorf("name", "name is required.")
	}
	if err := webhookd.ValidateName("name", name); err != nil {
		return err
	}
	audience, _, err := body.string("audience")
	if err != nil {
		return err
	}
	p := &webhookd.Project{ID: webhookd.NewID(webhookd.PrefixProject), Name: name, Audience: audience, CreateTime: s.now()}
	if err := s.cfg.Store.CreateProject(r.Context(), p); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newProjectJSON(p))
	return nil
}

func (s *Server) getProject(w http.ResponseWriter, r *http.Request) error {
	p, err := s.cfg.Store.GetProject(r.Context(), projectOf(r))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newProjectJSON(p))
	return nil
}

// updateProject is PATCH /projects/{project}: the audience is the one
// field that changes (a project's name is how the CLI finds it).
func (s *Server) updateProject(w http.ResponseWriter, r *http.Request) error {
	body, err := s.decodeBody(w, r, updateProjectSchema)
	if err != nil {
		return err
	}
	if mask, err := queryParam(r, "update_mask"); err != nil {
		return err
	} else if mask != "" && mask != "audience" && mask != "*" {
		return webhookd.FieldErrorf("update_mask", "update_mask: unknown field path %q; updatable fields: audience.", mask)
	}
	p, err := s.cfg.Store.GetProject(r.Context(), projectOf(r))
	if err != nil {
		return err
	}
	if p.Audience, _, err = body.string("audience"); err != nil {
		return err
	}
	if err := s.cfg.Store.UpdateProject(r.Context(), p); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, newProjectJSON(p))
	return nil
}

func (s *Server) listKeys(w http.ResponseWriter, r *http.Request) error {
	ks, err := s.cfg.Store.ListAPIKeys(r.Context(), projectOf(r))
	if err != nil {
		return err
	}
	out := struct {
		Keys []keyJSON `json:"keys"`
	}{Keys: make([]keyJSON, len(ks))}
	for i, k := range ks {
		out.Keys[i] = newKeyJSON(k)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) createKey(w http.ResponseWriter, r *http.Request) error {
	body, err := s.decodeBody(w, r, createKeySchema)
	if err != nil {
		return err
	}
	name, _, err := body.string("name")
	if err != nil {
		return err
	}
	if err := webhookd.ValidateName("name", name); err != nil {
		return err
	}
	key, rec := webhookd.GenerateAPIKey(projectOf(r), name, s.cfg.Clock)
	rec.CreateTime = s.now()
	if err := s.cfg.Store.CreateAPIKey(r.Context(), rec); err != nil {
		return err
	}
	out := newKeyJSON(rec)
	out.KeyString = key
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) revokeKey(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.decodeBody(w, r, schema{}); err != nil {
		return err
	}
	id := r.PathValue("key")
	err := s.cfg.Store.RevokeAPIKey(r.Context(), projectOf(r), id)
	if webhookd.ErrorCode(err) == webhookd.ENOTFOUND {
		return webhookd.NotFound("API key")
	}
	if err != nil {
		return err
	}
	ks, err := s.cfg.Store.ListAPIKeys(r.Context(), projectOf(r))
	if err != nil {
		return err
	}
	for _, k := range ks {
		if k.ID == id {
			writeJSON(w, http.StatusOK, newKeyJSON(k))
			return nil
		}
	}
	return webhookd.NotFound("API key")
}
