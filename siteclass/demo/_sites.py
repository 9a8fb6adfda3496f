"""The fictional businesses of the demo corpus: (id, name, host, label, town, founded, owner).

Every name, domain, town and person here is invented. Any resemblance to a real business is accidental.
"""

from __future__ import annotations

SITES: list[tuple[str, str, str, str, str, int, str]] = [
    # plumbing
    ("copperline", "Copperline Plumbing", "www.copperline-harrowfalls.com", "plumbing", "Harrow Falls", 1998, "Dale Kowalczyk"),
    ("bluevalve", "Blue Valve Pipe & Drain", "bluevalve-marlowbend.co", "plumbing", "Marlow Bend", 2011, "Priya Raman"),
    ("drainright", "DrainRight Services", "www.drainright-eastquarry.net", "plumbing", "East Quarry", 2005, "Tomas Ferreira"),
    ("kettlebrook-plumb", "Kettlebrook Plumbing & Heating", "kettlebrook-plumbheat.us", "plumbing", "Kettlebrook", 1987, "Helen Ostrowski"),
    # bakery
    ("crumbandcrust", "Crumb & Crust Bakehouse", "www.crumbandcrust-willowmere.com", "bakery", "Willowmere", 2014, "Anna Lindqvist"),
    ("baeckerei-mueller", "Bäckerei Müller", "baeckerei-newbremenfalls.info", "bakery", "New Bremen Falls", 1979, "Jürgen Müller"),
    ("risingloaf", "The Rising Loaf", "www.risingloaf-portellery.biz", "bakery", "Port Ellery", 2009, "Marisol Vega"),
    ("sugarfoot", "Sugarfoot Cakes & Bread", "sugarfoot-cedarhollow.site", "bakery", "Cedar Hollow", 2017, "Keisha Dunmore"),
    # law firm
    ("hale-whitcomb", "Hale & Whitcomb LLP", "www.halewhitcomb-stanmore.com", "law_firm", "Stanmore", 1992, "Margaret Hale"),
    ("ortega-legal", "Ortega Legal Group", "ortegalegal-redfield.net", "law_firm", "Redfield", 2008, "Luis Ortega"),
    ("brightwater-law", "Brightwater Law Offices", "www.brightwaterlaw-offices.us", "law_firm", "Brightwater", 2001, "Samuel Achebe"),
    ("quill-counsel", "Quill & Counsel", "quillcounsel-ashbycross.co", "law_firm", "Ashby Cross", 2016, "Rebecca Thorne"),
    # dental
    ("brightsmile", "BrightSmile Dental", "www.brightsmile-larkspurheights.com", "dental_clinic", "Larkspur Heights", 2003, "Nadia Haddad"),
    ("maplegrove-dental", "Maple Grove Family Dentistry", "maplegrove-familydental.org", "dental_clinic", "Maple Grove", 1995, "Robert Chen"),
    ("pearl-dental", "Pearl Street Dental Studio", "www.pearlstreetdental-fairhaven.net", "dental_clinic", "Fairhaven", 2012, "Ingrid Solberg"),
    ("toothfairy-kids", "Little Molars Pediatric & Family Dental", "littlemolars-oakmontsprings.site", "dental_clinic", "Oakmont Springs", 2019, "Kwame Mensah"),
    # accounting
    ("ledgerline", "Ledgerline CPAs", "www.ledgerline-westburyflats.com", "accounting", "Westbury Flats", 2000, "Carol Whitfield"),
    ("northpoint-tax", "Northpoint Tax & Bookkeeping", "northpoint-taxbooks.net", "accounting", "Northpoint", 2013, "Arjun Mehta"),
    ("greenleaf-acct", "Greenleaf Accounting Partners", "www.greenleafaccounting-saltmarsh.biz", "accounting", "Saltmarsh", 1989, "Frances O’Malley"),
    ("tally-co", "Tally & Co. Accountants", "tallyandco-ridgeview.info", "accounting", "Ridgeview", 2018, "Mei Lin Zhou"),
    # trucking
    ("ironroad", "Iron Road Freight Lines", "www.ironroadfreight-grandplains.com", "trucking", "Grand Plains", 1984, "Walter Brandt"),
    ("redhawk", "Redhawk Transport", "redhawktransport-cottonwoodjunction.us", "trucking", "Cottonwood Junction", 2006, "Gloria Pérez"),
    ("bluewater-logistics", "Bluewater Carriers", "www.bluewatercarriers-laketamsin.net", "trucking", "Lake Tamsin", 1997, "Frank DiMarco"),
    ("summit-haul", "Summit Haulage Inc.", "summithaulage-pinecrest.co", "trucking", "Pinecrest", 2010, "Darnell Hughes"),
    # software
    ("crewtrack", "CrewTrack", "crewtrack-harborcity.site", "software", "Harbor City", 2015, "Lena Park"),
    ("nimbusforge", "NimbusForge", "www.nimbusforge-techvalley.com", "software", "Tech Valley", 2019, "Owen Baptiste"),
    ("ledgerly", "Ledgerly Software", "ledgerly-riverton.net", "software", "Riverton", 2012, "Sofia Marchetti"),
    ("patchwork-labs", "Patchwork Labs", "www.patchworklabs-granitebay.co", "software", "Granite Bay", 2017, "Ravi Srinivasan"),
    # restaurant
    ("cafe-lumiere", "Café Lumière", "www.cafelumiere-stambrose.com", "restaurant", "Saint-Ambrose", 2007, "Élodie Marchand"),
    ("ember-oak", "Ember & Oak Kitchen", "emberandoak-millbrook.net", "restaurant", "Millbrook", 2015, "Marcus Reyes"),
    ("salt-cellar", "The Salt Cellar", "www.thesaltcellar-harbourside.biz", "restaurant", "Harbourside", 1999, "Giulia Romano"),
    ("lotus-garden", "Lotus Garden Bistro", "lotusgardenbistro-elmpark.us", "restaurant", "Elm Park", 2011, "Thanh Nguyen"),
    # construction
    ("stonebridge", "Stonebridge Builders", "www.stonebridgebuilders-harrowfalls.com", "construction", "Harrow Falls", 1993, "Gregor Novak"),
    ("truebeam", "TrueBeam Construction", "truebeamconstruction-redfield.net", "construction", "Redfield", 2004, "Alicia Monroe"),
    ("keystone-gc", "Keystone General Contractors", "www.keystone-bramford.us", "construction", "Bramford", 1978, "Patrick Doyle"),
    ("granite-peak", "Granite Peak Construction Co.", "granitepeakco-pinecrest.biz", "construction", "Pinecrest", 2012, "Hannah Vogel"),
    # real estate
    ("hearthstone-realty", "Hearthstone Realty", "www.hearthstonerealty-willowmere.com", "real_estate", "Willowmere", 2002, "Diane Caldwell"),
    ("lakeshore-homes", "Lakeshore Homes & Land", "lakeshorehomes-laketamsin.info", "real_estate", "Lake Tamsin", 1996, "Erik Johansson"),
    ("keyhouse", "KeyHouse Properties", "www.keyhouseproperties-stanmore.net", "real_estate", "Stanmore", 2014, "Yasmin Farouk"),
    ("open-door-re", "Open Door Real Estate", "opendoor-fairhaven.site", "real_estate", "Fairhaven", 2009, "Bill Okonkwo"),
    # auto repair
    ("gearhead-garage", "Gearhead Garage", "www.gearheadgarage-cottonwoodjunction.com", "auto_repair", "Cottonwood Junction", 1990, "Ray Delgado"),
    ("precision-auto", "Precision Auto Care", "precisionautocare-marlowbend.net", "auto_repair", "Marlow Bend", 2006, "Kim Tran"),
    ("wrench-works", "Wrench Works Service Center", "www.wrenchworks-eastquarry.us", "auto_repair", "East Quarry", 2013, "Joe Szabo"),
    ("autohaus-becker", "Autohaus Becker Repair", "autohausbecker-newbremenfalls.co", "auto_repair", "New Bremen Falls", 1982, "Stefan Becker"),
    # hair salon
    ("shear-bliss", "Shear Bliss Salon", "www.shearbliss-larkspurheights.com", "hair_salon", "Larkspur Heights", 2010, "Tasha Greene"),
    ("maison-coiffure", "Maison Coiffure", "maisoncoiffure-stambrose.net", "hair_salon", "Saint-Ambrose", 2004, "Renée Dubois"),
    ("mane-street", "Mane Street Hair Studio", "www.manestreethair-millbrook.biz", "hair_salon", "Millbrook", 2016, "Carla Jimenez"),
    ("the-chair", "The Chair Barber & Salon", "thechairsalon-granitebay.site", "hair_salon", "Granite Bay", 2020, "Andre Williams"),
    # veterinary
    ("pawsitive-vet", "Pawsitive Veterinary Clinic", "www.pawsitivevet-oakmontsprings.com", "veterinary_clinic", "Oakmont Springs", 2001, "Laura Fischer"),
    ("riverbend-animal", "Riverbend Animal Hospital", "riverbendanimal-riverton.org", "veterinary_clinic", "Riverton", 1988, "Hiroshi Tanaka"),
    ("whisker-wag", "Whisker & Wag Vet Care", "www.whiskerandwag-elmpark.net", "veterinary_clinic", "Elm Park", 2017, "Chloe Barnes"),
    ("country-critters", "Country Critters Veterinary", "countrycrittersvet-grandplains.us", "veterinary_clinic", "Grand Plains", 1994, "Ben Adeyemi"),
    # landscaping
    ("greenthumb", "GreenThumb Landscapes", "www.greenthumblandscapes-cedarhollow.com", "landscaping", "Cedar Hollow", 2003, "Miguel Santos"),
    ("fernhill", "Fernhill Garden & Lawn", "fernhillgardens-kettlebrook.co", "landscaping", "Kettlebrook", 1991, "Rosalind Pike"),
    ("terra-verde", "Terra Verde Outdoor Design", "www.terraverde-ridgeview.net", "landscaping", "Ridgeview", 2014, "Paolo Bianchi"),
    ("yardcraft", "YardCraft Lawn Care", "yardcraft-westburyflats.biz", "landscaping", "Westbury Flats", 2018, "Travis Lund"),
    # hotel
    ("hotel-riviere", "Hôtel de la Rivière", "www.hotel-riviere-stambrose.com", "hotel", "Saint-Ambrose", 1998, "Camille Laurent"),
    ("harbor-inn", "The Harbor Inn", "harborinn-portellery.com", "hotel", "Port Ellery", 1976, "Eleanor Mayhew"),
    ("alpenhof", "Gasthof Alpenhof", "www.alpenhof-pinecrest.info", "hotel", "Pinecrest", 2005, "Lukas Grüber"),
    ("meridian-suites", "Meridian Suites", "meridiansuites-harborcity.net", "hotel", "Harbor City", 2016, "Amara Osei"),
    # fitness
    ("ironclad-gym", "Ironclad Strength & Fitness", "www.ironcladgym-bramford.com", "fitness_gym", "Bramford", 2012, "Jake Morrison"),
    ("pulse-fitness", "Pulse Fitness Club", "pulsefitnessclub-harborcity.net", "fitness_gym", "Harbor City", 2008, "Serena Wolfe"),
    ("kinetic-studio", "Kinetic Movement Studio", "www.kineticstudio-fairhaven.site", "fitness_gym", "Fairhaven", 2019, "Noor Hassan"),
    ("barbell-barn", "The Barbell Barn", "barbellbarn-cottonwoodjunction.us", "fitness_gym", "Cottonwood Junction", 2015, "Cody Harlan"),
]
