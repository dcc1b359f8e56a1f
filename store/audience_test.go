package store

import (
	"errors"
	"testing"
)

func TestValidateResource(t *testing.T) {
	for _, good := range []string{"https://api.example/", "https://api.example/items?x=1", "urn:example:items"} {
		if err := ValidateResource(good); err != nil {
			t.Errorf("ValidateResource(%q) = %v, want nil", good, err)
		}
	}
	for _, bad := range []string{"", "/relative", "api.example", "https://api.example/#frag", "https://api.example/#", "https://a b/", "https://api.example/\x00"} {
		if err := ValidateResource(bad); err == nil {
			t.Errorf("ValidateResource(%q) = nil, want an error", bad)
		}
	}
}

func TestClientAudience(t *testing.T) {
	c := Client{Resources: []string{"https://a.example/", "https://b.example/"}}
	got, err := c.Audience([]string{"https://b.example/", "https://a.example/", "https://b.example/"}, "urn:default")
	if err != nil || got != "https://b.example/ https://a.example/" {
		t.Fatalf("Audience = %q, %v", got, err)
	}
	if got, err := c.Audience(nil, "urn:default"); err != nil || got != "urn:default" {
		t.Fatalf("Audience(none) = %q, %v; want the default", got, err)
	}
	if _, err := c.Audience([]string{"https://c.example/"}, "urn:default"); !errors.Is(err, ErrInvalidTarget) {
		t.Fatalf("Audience(unregistered) = %v, want ErrInvalidTarget", err)
	}
	many := make([]string, MaxResources+1)
	for i := range many {
		many[i] = "https://a.example/"
	}
	if _, err := c.Audience(many, ""); !errors.Is(err, ErrInvalidTarget) {
		t.Fatalf("Audience(too many) = %v, want ErrInvalidTarget", err)
	}
}

func TestClientValidateTokenSettings(t *testing.T) {
	c := Client{ID: "c", SecretHash: make([]byte, 32), GrantTypes: []string{GrantClientCredentials},
		AccessTokenFormat: AccessTokenJWT, Resources: []string{"https://a.example/"}}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	c.AccessTokenFormat = "paseto"
	if err := c.Validate(); err == nil {
		t.Fatal("Validate accepted an unknown token format")
	}
	c.AccessTokenFormat, c.Resources = "", []string{"https://a.example/", "https://a.example/"}
	if err := c.Validate(); err == nil {
		t.Fatal("Validate accepted a duplicate resource")
	}
	prev := Client{Resources: []string{"https://a.example/"}}
	if !prev.Narrows(Client{}) || !(Client{}).Narrows(Client{RequireDPoP: true}) || (Client{RequireDPoP: true}).Narrows(Client{}) {
		t.Fatal("Narrows: losing a resource or starting to require DPoP must narrow; dropping DPoP must not")
	}
}
