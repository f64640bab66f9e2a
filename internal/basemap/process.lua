-- tilemaker profile: OpenStreetMap into the Protomaps basemap layers (earth, water, landuse,
-- roads, buildings, places, pois, boundaries) as the web app's renderer draws them
-- (protomaps-leaflet 5 with the "light" flavour of @protomaps/basemaps).
--
-- What the renderer filters on decides the properties written here:
--   roads:      kind highway | major_road | minor_road | path | other | rail; kind_detail
--               runway | taxiway | pier; labels from "name:de", then "name" (lang "de")
--   landuse:    kind park, cemetery, forest, wood, grass, school, hospital, industrial,
--               pedestrian, pier, beach, sand, zoo, playground, allotments, …
--   water:      polygons of any kind; lines of kind river | stream; label points of kind
--               lake | water | sea | bay
--   boundaries: kind_detail = admin_level as a number (≤ 2 drawn heavier)
--   places:     kind country | region | locality (min_zoom, population_rank) | neighbourhood
--   buildings:  polygons (kind building) and, at zoom 15 only, kind address points with
--               addr_housenumber, as the Protomaps schema has them
--   earth:      the land under everything (see earth below)
--   water:      the sea as polygons of kind ocean (see sea below)
-- Names: "name" is the local name, "name:de" the German one where OSM has it; the renderer
-- shows name:de and falls back to name, so the German label wins wherever one exists.

node_keys = { "place", "amenity", "shop", "tourism", "leisure", "historic", "railway",
	"natural", "addr:housenumber", "office", "craft" }

function Set(list)
	local set = {}
	for _, v in ipairs(list) do set[v] = true end
	return set
end

function SetNames(obj)
	local name = obj:Find("name")
	if name ~= "" then obj:Attribute("name", name) end
	local de = obj:Find("name:de")
	if de ~= "" then obj:Attribute("name:de", de) end
end

-- Places ---------------------------------------------------------------------------------

local placeKinds = {
	country = { "country", 2 }, state = { "region", 4 }, province = { "region", 5 },
	city = { "locality", 7 }, town = { "locality", 9 }, village = { "locality", 11 },
	hamlet = { "locality", 12 }, isolated_dwelling = { "locality", 13 },
	suburb = { "neighbourhood", 11 }, quarter = { "neighbourhood", 12 },
	neighbourhood = { "neighbourhood", 13 }, locality = { "neighbourhood", 14 },
}

-- Protomaps ranks populations on a 0..15 scale; > 9 makes a larger label.
function PopulationRank(pop)
	local bounds = { 1000000000, 100000000, 50000000, 20000000, 10000000, 5000000, 1000000,
		500000, 200000, 100000, 50000, 20000, 10000, 5000, 2000, 1000 }
	for i, b in ipairs(bounds) do
		if pop >= b then return 16 - i end
	end
	return 0
end

function WritePlace(obj, place, asCentroid)
	local k = placeKinds[place]
	if not k or obj:Find("name") == "" then return false end
	if asCentroid then obj:LayerAsCentroid("places") else obj:Layer("places", false) end
	obj:Attribute("kind", k[1])
	obj:Attribute("kind_detail", place)
	obj:MinZoom(k[2])
	obj:AttributeNumeric("min_zoom", k[2])
	obj:AttributeNumeric("population_rank", PopulationRank(tonumber(obj:Find("population")) or 0))
	SetNames(obj)
	return true
end

-- POIs ------------------------------------------------------------------------------------

local poiKeys = { "amenity", "shop", "tourism", "leisure", "historic", "railway", "office", "craft" }
local poiRailway = Set { "station", "halt", "tram_stop", "subway_entrance" }
local poiSkip = Set { "bench", "waste_basket", "vending_machine", "parking_space", "bicycle_parking",
	"grit_bin", "recycling", "fountain", "drinking_water", "telephone", "post_box", "clock" }

-- Returns true when it wrote a POI point.
function WritePOI(obj, asCentroid)
	for _, key in ipairs(poiKeys) do
		local v = obj:Find(key)
		if v ~= "" and v ~= "yes" and not poiSkip[v] and (key ~= "railway" or poiRailway[v]) then
			if obj:Find("name") == "" then return false end
			if asCentroid then obj:LayerAsCentroid("pois") else obj:Layer("pois", false) end
			obj:Attribute("kind", v)
			obj:MinZoom(15)
			obj:AttributeNumeric("min_zoom", 15)
			SetNames(obj)
			return true
		end
	end
	return false
end

function node_function(node)
	if WritePlace(node, node:Find("place"), false) then return end
	local housenumber = node:Find("addr:housenumber")
	if housenumber ~= "" then
		node:Layer("buildings", false)
		node:Attribute("kind", "address")
		node:Attribute("addr_housenumber", housenumber)
		node:MinZoom(15)
		node:AttributeNumeric("min_zoom", 15)
	end
	WritePOI(node, false)
	local natural = node:Find("natural")
	if (natural == "bay" or natural == "strait") and node:Find("name") ~= "" then
		node:Layer("water", false)
		node:Attribute("kind", natural)
		SetNames(node)
	end
end

-- Ways and multipolygons -------------------------------------------------------------------

local highwayKinds = {
	motorway = { "highway", 6 }, motorway_link = { "highway", 11 },
	trunk = { "major_road", 7 }, trunk_link = { "major_road", 11 },
	primary = { "major_road", 7 }, primary_link = { "major_road", 11 },
	secondary = { "major_road", 9 }, secondary_link = { "major_road", 11 },
	tertiary = { "major_road", 10 }, tertiary_link = { "major_road", 11 },
	residential = { "minor_road", 12 }, unclassified = { "minor_road", 12 },
	living_street = { "minor_road", 12 }, road = { "minor_road", 12 },
	service = { "minor_road", 13 },
	pedestrian = { "path", 13 }, footway = { "path", 14 }, path = { "path", 14 },
	cycleway = { "path", 14 }, steps = { "path", 14 }, track = { "path", 14 },
	bridleway = { "path", 14 }, corridor = { "path", 15 },
	busway = { "other", 13 }, raceway = { "other", 13 },
}
local railKinds = Set { "rail", "light_rail", "subway", "tram", "narrow_gauge", "funicular", "monorail" }

-- landuse layer: OSM tag value → Protomaps kind
local landuseKinds = {
	landuse = { cemetery = "cemetery", forest = "forest", grass = "grass", meadow = "grass",
		recreation_ground = "park", village_green = "village_green", allotments = "allotments",
		industrial = "industrial", commercial = "commercial", retail = "commercial",
		residential = "residential", railway = "railway", military = "military",
		construction = "construction", farmland = "farmland", orchard = "farmland",
		vineyard = "farmland", garages = "garages", religious = "cemetery" },
	leisure = { park = "park", garden = "park", playground = "playground", pitch = "pitch",
		golf_course = "golf_course", stadium = "stadium", sports_centre = "sports_centre",
		nature_reserve = "nature_reserve", dog_park = "park", marina = "marina" },
	natural = { wood = "wood", scrub = "scrub", grassland = "grassland", beach = "beach",
		sand = "sand", heath = "scrub", bare_rock = "bare_rock", glacier = "glacier" },
	amenity = { school = "school", university = "university", college = "college",
		kindergarten = "school", hospital = "hospital", grave_yard = "cemetery",
		parking = "parking" },
	tourism = { zoo = "zoo", theme_park = "theme_park" },
	aeroway = { aerodrome = "aerodrome" },
	boundary = { national_park = "national_park", protected_area = "protected_area" },
}
local landuseOrder = { "leisure", "amenity", "tourism", "landuse", "natural", "aeroway", "boundary" }

function WriteLanduse(way)
	for _, key in ipairs(landuseOrder) do
		local kind = landuseKinds[key][way:Find(key)]
		if kind then
			way:Layer("landuse", true)
			way:Attribute("kind", kind)
			SetNames(way)
			return true
		end
	end
	if (way:Find("highway") == "pedestrian" or way:Find("place") == "square") and way:Find("area") == "yes" then
		way:Layer("landuse", true)
		way:Attribute("kind", "pedestrian")
		return true
	end
	return false
end

function relation_scan_function(relation)
	if relation:Find("type") == "boundary" and relation:Find("boundary") == "administrative" then
		relation:Accept()
	end
end

function way_function(way)
	local closed = way:IsClosed()
	local highway = way:Find("highway")
	local railway = way:Find("railway")
	local building = way:Find("building")
	local natural = way:Find("natural")
	local waterway = way:Find("waterway")

	-- earth: the land under everything. OpenStreetMap has no land polygon (the sea is what the
	-- coastline ways leave open); the build adds one closed way over the clipped bounds.
	if way:Find("weltgewebe:earth") == "yes" then
		way:Layer("earth", true)
		way:Attribute("kind", "earth")
		return
	end

	-- the sea: assembled by the build from the coastline (OpenStreetMap has no sea polygon),
	-- as multipolygons over the earth
	if way:Find("weltgewebe:sea") == "yes" then
		way:Layer("water", true)
		way:Attribute("kind", "ocean")
		return
	end

	-- Boundary relations come here as areas too; their member ways draw them (below), and an
	-- area of a country or region is costly to cut into tiles and not drawn.
	if way:Find("type") == "boundary" then return end

	-- boundaries: admin_level from the relations a way belongs to, else from its own tags
	local level = 99
	while true do
		local rel = way:NextRelation()
		if not rel then break end
		level = math.min(level, tonumber(way:FindInRelation("admin_level")) or 99)
	end
	if way:Find("boundary") == "administrative" then
		level = math.min(level, tonumber(way:Find("admin_level")) or 99)
	end
	if level < 99 and way:Find("maritime") ~= "yes" and way:Find("natural") ~= "coastline" then
		way:Layer("boundaries", false)
		local kind = "locality"
		if level <= 2 then kind = "country" elseif level <= 4 then kind = "region" elseif level <= 6 then kind = "county" end
		way:Attribute("kind", kind)
		way:AttributeNumeric("kind_detail", level)
		local mz = 0
		if level > 2 then mz = 8 end
		if level > 6 then mz = 10 end
		way:MinZoom(mz)
		way:AttributeNumeric("min_zoom", mz)
	end

	-- roads
	local road = highwayKinds[highway]
	if road and not (closed and way:Find("area") == "yes") then
		way:Layer("roads", false)
		way:Attribute("kind", road[1])
		way:Attribute("kind_detail", highway)
		way:MinZoom(road[2])
		way:AttributeNumeric("min_zoom", road[2])
		-- drawing order within the layer: bigger roads over smaller ones
		local rank = 300
		if road[1] == "highway" then rank = 400 elseif road[1] == "major_road" then rank = 380 elseif road[1] == "minor_road" then rank = 360 end
		way:ZOrder(math.floor((rank - 300) / 20))
		way:AttributeNumeric("sort_rank", rank)
		if highway:find("_link") then way:AttributeBoolean("is_link", true) end
		if way:Find("tunnel") ~= "" and way:Find("tunnel") ~= "no" then way:AttributeBoolean("is_tunnel", true) end
		if way:Find("bridge") ~= "" and way:Find("bridge") ~= "no" then way:AttributeBoolean("is_bridge", true) end
		local ref = way:Find("ref")
		if ref ~= "" then way:Attribute("ref", ref) end
		SetNames(way)
	elseif railKinds[railway] and way:Find("service") == "" then
		way:Layer("roads", false)
		way:Attribute("kind", "rail")
		way:Attribute("kind_detail", railway)
		way:MinZoom(11)
		way:AttributeNumeric("min_zoom", 11)
		if way:Find("tunnel") ~= "" and way:Find("tunnel") ~= "no" then way:AttributeBoolean("is_tunnel", true) end
		SetNames(way)
	elseif way:Find("aeroway") == "runway" or way:Find("aeroway") == "taxiway" then
		way:Layer("roads", false)
		way:Attribute("kind", "other")
		way:Attribute("kind_detail", way:Find("aeroway"))
		way:MinZoom(11)
	elseif way:Find("man_made") == "pier" then
		if closed then
			way:Layer("landuse", true)
			way:Attribute("kind", "pier")
		else
			way:Layer("roads", false)
			way:Attribute("kind", "path")
			way:Attribute("kind_detail", "pier")
			way:MinZoom(13)
		end
	end

	-- water
	local isWater = natural == "water" or waterway == "riverbank" or waterway == "dock"
		or way:Find("landuse") == "reservoir" or way:Find("landuse") == "basin"
		or way:Find("leisure") == "swimming_pool"
	if isWater and closed and way:Find("covered") ~= "yes" and way:Find("location") ~= "underground" then
		local kind = "water"
		local water = way:Find("water")
		if water == "lake" or water == "reservoir" or way:Find("landuse") == "reservoir" then kind = "lake" end
		if way:Find("leisure") == "swimming_pool" then kind = "swimming_pool" end
		way:Layer("water", true)
		way:Attribute("kind", kind)
		SetNames(way)
		if way:Find("name") ~= "" then
			way:LayerAsCentroid("water")
			way:Attribute("kind", kind)
			SetNames(way)
		end
		return
	end
	if (waterway == "river" or waterway == "stream" or waterway == "canal" or waterway == "ditch" or waterway == "drain")
		and not closed and way:Find("tunnel") ~= "culvert" then
		way:Layer("water", false)
		local kind = waterway
		if waterway == "ditch" or waterway == "drain" then kind = "stream" end
		way:Attribute("kind", kind)
		way:MinZoom(12)
		SetNames(way)
	end

	-- buildings, and at zoom 15 the house number at the building's centre
	if building ~= "" and building ~= "no" and closed then
		way:Layer("buildings", true)
		way:Attribute("kind", "building")
		if building ~= "yes" then way:Attribute("kind_detail", building) end
		local height = tonumber(way:Find("height"))
		if height then way:AttributeNumeric("height", height) end
		way:MinZoom(13)
		local housenumber = way:Find("addr:housenumber")
		if housenumber ~= "" then
			way:LayerAsCentroid("buildings")
			way:Attribute("kind", "address")
			way:Attribute("addr_housenumber", housenumber)
			way:MinZoom(15)
			way:AttributeNumeric("min_zoom", 15)
		end
	end

	if closed then
		WriteLanduse(way)
		if not WritePlace(way, way:Find("place"), true) then WritePOI(way, true) end
	end
end
