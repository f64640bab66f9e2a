-- The offline address index: addresses, streets and places read from an OpenStreetMap extract
-- (`weltgewebe adressen import`), searched by registration and "Knoten knüpfen". Owned by
-- instance/adressen.

-- +goose Up
CREATE TABLE adressen (
    -- The rank among equally good matches, given at import: shorter labels first. The index is
    -- replaced as a whole, so the numbers are dense and the primary key is the sort order.
    ord         integer          PRIMARY KEY,
    kind        text             NOT NULL CHECK (kind IN ('address', 'street', 'place')),
    label       text             NOT NULL,
    street      text             NOT NULL DEFAULT '',
    housenumber text             NOT NULL DEFAULT '',
    postcode    text             NOT NULL DEFAULT '',
    city        text             NOT NULL DEFAULT '',
    name        text             NOT NULL DEFAULT '',
    lat         double precision NOT NULL,
    lon         double precision NOT NULL,
    -- Every prefix of every normalised word of the label (and its spelling variants), and the
    -- house number marked for an exact match ("#18"): a search word matches when it is one of
    -- them, so a prefix search is an array containment that the GIN index answers
    -- (adressen/normalize.go).
    terms       text[]           NOT NULL
);
CREATE INDEX adressen_terms ON adressen USING gin (terms);

-- Where the index came from: the last import's file and clip. An import of the same file with
-- the same clip changes nothing.
CREATE TABLE adressen_quelle (
    singleton   boolean     PRIMARY KEY DEFAULT true CHECK (singleton),
    file        text        NOT NULL,
    sha256      text        NOT NULL,
    bounds      text,       -- the clip as given (GeoJSON geometry), NULL: none
    addresses   integer     NOT NULL,
    streets     integer     NOT NULL,
    places      integer     NOT NULL,
    imported_at timestamptz NOT NULL
);

-- +goose Down
DROP TABLE adressen_quelle;
DROP TABLE adressen;
