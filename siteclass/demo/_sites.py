"""The fictional businesses of the demo corpus: (id, name, host, label, town, founded, owner).

Every name, domain, town and person here is invented. Any resemblance to a real business is accidental.
"""

from __future__ import annotations

SITES: list[tuple[str, str, str, str, str, int, str]] = [
    # plumbing
    ("copperline", "Copperline Plumbing", "www.copperline-plumbing.com", "plumbing", "Harrow Falls", 1998, "Dale Kowalczyk"),
    ("bluevalve", "Blue Valve Pipe & Drain", "bluevalve.co", "plumbing", "Marlow Bend", 2011, "Priya Raman"),
    ("drainright", "DrainRight Services", "www.drainright.net", "plumbing", "East Quarry", 2005, "Tomas Ferreira"),
    ("kettlebrook-plumb", "Kettlebrook Plumbing & Heating", "kettlebrookplumbing.us", "plumbing", "Kettlebrook", 1987, "Helen Ostrowski"),
    # bakery
    ("crumbandcrust", "Crumb & Crust Bakehouse", "www.crumbandcrust.com", "bakery", "Willowmere", 2014, "Anna Lindqvist"),
    ("baeckerei-mueller", "Bäckerei Müller", "baeckerei-mueller.info", "bakery", "New Bremen Falls", 1979, "Jürgen Müller"),
    ("risingloaf", "The Rising Loaf", "www.risingloaf.biz", "bakery", "Port Ellery", 2009, "Marisol Vega"),
    ("sugarfoot", "Sugarfoot Cakes & Bread", "sugarfoot-bakery.site", "bakery", "Cedar Hollow", 2017, "Keisha Dunmore"),
    # law firm
    ("hale-whitcomb", "Hale & Whitcomb LLP", "www.halewhitcomb-law.com", "law_firm", "Stanmore", 1992, "Margaret Hale"),
    ("ortega-legal", "Ortega Legal Group", "ortegalegal.net", "law_firm", "Redfield", 2008, "Luis Ortega"),
    ("brightwater-law", "Brightwater Law Offices", "www.brightwaterlaw.us", "law_firm", "Brightwater", 2001, "Samuel Achebe"),
    ("quill-counsel", "Quill & Counsel", "quillcounsel.co", "law_firm", "Ashby Cross", 2016, "Rebecca Thorne"),
    # dental
    ("brightsmile", "BrightSmile Dental", "www.brightsmile-dental.com", "dental_clinic", "Larkspur Heights", 2003, "Nadia Haddad"),
    ("maplegrove-dental", "Maple Grove Family Dentistry", "maplegrovedentistry.org", "dental_clinic", "Maple Grove", 1995, "Robert Chen"),
    ("pearl-dental", "Pearl Street Dental Studio", "www.pearlstreetdental.net", "dental_clinic", "Fairhaven", 2012, "Ingrid Solberg"),
    ("toothfairy-kids", "Little Molars Pediatric & Family Dental", "littlemolars.site", "dental_clinic", "Oakmont Springs", 2019, "Kwame Mensah"),
    # accounting
    ("ledgerline", "Ledgerline CPAs", "www.ledgerline-cpa.com", "accounting", "Westbury Flats", 2000, "Carol Whitfield"),
    ("northpoint-tax", "Northpoint Tax & Bookkeeping", "northpointtax.net", "accounting", "Northpoint", 2013, "Arjun Mehta"),
    ("greenleaf-acct", "Greenleaf Accounting Partners", "www.greenleafaccounting.biz", "accounting", "Saltmarsh", 1989, "Frances O’Malley"),
    ("tally-co", "Tally & Co. Accountants", "tallyandco.info", "accounting", "Ridgeview", 2018, "Mei Lin Zhou"),
    # trucking
    ("ironroad", "Iron Road Freight Lines", "www.ironroadfreight.com", "trucking", "Grand Plains", 1984, "Walter Brandt"),
    ("redhawk", "Redhawk Transport", "redhawktransport.us", "trucking", "Cottonwood Junction", 2006, "Gloria Pérez"),
    ("bluewater-logistics", "Bluewater Carriers", "www.bluewatercarriers.net", "trucking", "Lake Tamsin", 1997, "Frank DiMarco"),
    ("summit-haul", "Summit Haulage Inc.", "summithaulage.co", "trucking", "Pinecrest", 2010, "Darnell Hughes"),
    # software
    ("crewtrack", "CrewTrack", "crewtrack.site", "software", "Harbor City", 2015, "Lena Park"),
    ("nimbusforge", "NimbusForge", "www.nimbusforge.com", "software", "Tech Valley", 2019, "Owen Baptiste"),
    ("ledgerly", "Ledgerly Software", "ledgerly-app.net", "software", "Riverton", 2012, "Sofia Marchetti"),
    ("patchwork-labs", "Patchwork Labs", "www.patchworklabs.co", "software", "Granite Bay", 2017, "Ravi Srinivasan"),
    # restaurant
    ("cafe-lumiere", "Café Lumière", "www.cafelumiere.com", "restaurant", "Saint-Ambrose", 2007, "Élodie Marchand"),
    ("ember-oak", "Ember & Oak Kitchen", "emberandoak.net", "restaurant", "Millbrook", 2015, "Marcus Reyes"),
    ("salt-cellar", "The Salt Cellar", "www.thesaltcellar.biz", "restaurant", "Harbourside", 1999, "Giulia Romano"),
    ("lotus-garden", "Lotus Garden Bistro", "lotusgardenbistro.us", "restaurant", "Elm Park", 2011, "Thanh Nguyen"),
    # construction
    ("stonebridge", "Stonebridge Builders", "www.stonebridgebuilders.com", "construction", "Harrow Falls", 1993, "Gregor Novak"),
    ("truebeam", "TrueBeam Construction", "truebeamconstruction.net", "construction", "Redfield", 2004, "Alicia Monroe"),
    ("keystone-gc", "Keystone General Contractors", "www.keystone-gc.us", "construction", "Bramford", 1978, "Patrick Doyle"),
    ("granite-peak", "Granite Peak Construction Co.", "granitepeakco.biz", "construction", "Pinecrest", 2012, "Hannah Vogel"),
    # real estate
    ("hearthstone-realty", "Hearthstone Realty", "www.hearthstonerealty.com", "real_estate", "Willowmere", 2002, "Diane Caldwell"),
    ("lakeshore-homes", "Lakeshore Homes & Land", "lakeshorehomes.info", "real_estate", "Lake Tamsin", 1996, "Erik Johansson"),
    ("keyhouse", "KeyHouse Properties", "www.keyhouseproperties.net", "real_estate", "Stanmore", 2014, "Yasmin Farouk"),
    ("open-door-re", "Open Door Real Estate", "opendoor-realestate.site", "real_estate", "Fairhaven", 2009, "Bill Okonkwo"),
    # auto repair
    ("gearhead-garage", "Gearhead Garage", "www.gearheadgarage.com", "auto_repair", "Cottonwood Junction", 1990, "Ray Delgado"),
    ("precision-auto", "Precision Auto Care", "precisionautocare.net", "auto_repair", "Marlow Bend", 2006, "Kim Tran"),
    ("wrench-works", "Wrench Works Service Center", "www.wrenchworks.us", "auto_repair", "East Quarry", 2013, "Joe Szabo"),
    ("autohaus-becker", "Autohaus Becker Repair", "autohausbecker.co", "auto_repair", "New Bremen Falls", 1982, "Stefan Becker"),
    # hair salon
    ("shear-bliss", "Shear Bliss Salon", "www.shearbliss.com", "hair_salon", "Larkspur Heights", 2010, "Tasha Greene"),
    ("maison-coiffure", "Maison Coiffure", "maisoncoiffure.net", "hair_salon", "Saint-Ambrose", 2004, "Renée Dubois"),
    ("mane-street", "Mane Street Hair Studio", "www.manestreethair.biz", "hair_salon", "Millbrook", 2016, "Carla Jimenez"),
    ("the-chair", "The Chair Barber & Salon", "thechairsalon.site", "hair_salon", "Granite Bay", 2020, "Andre Williams"),
    # veterinary
    ("pawsitive-vet", "Pawsitive Veterinary Clinic", "www.pawsitivevet.com", "veterinary_clinic", "Oakmont Springs", 2001, "Laura Fischer"),
    ("riverbend-animal", "Riverbend Animal Hospital", "riverbendanimal.org", "veterinary_clinic", "Riverton", 1988, "Hiroshi Tanaka"),
    ("whisker-wag", "Whisker & Wag Vet Care", "www.whiskerandwag.net", "veterinary_clinic", "Elm Park", 2017, "Chloe Barnes"),
    ("country-critters", "Country Critters Veterinary", "countrycrittersvet.us", "veterinary_clinic", "Grand Plains", 1994, "Ben Adeyemi"),
    # landscaping
    ("greenthumb", "GreenThumb Landscapes", "www.greenthumblandscapes.com", "landscaping", "Cedar Hollow", 2003, "Miguel Santos"),
    ("fernhill", "Fernhill Garden & Lawn", "fernhillgardens.co", "landscaping", "Kettlebrook", 1991, "Rosalind Pike"),
    ("terra-verde", "Terra Verde Outdoor Design", "www.terraverde-design.net", "landscaping", "Ridgeview", 2014, "Paolo Bianchi"),
    ("yardcraft", "YardCraft Lawn Care", "yardcraft.biz", "landscaping", "Westbury Flats", 2018, "Travis Lund"),
    # hotel
    ("hotel-riviere", "Hôtel de la Rivière", "www.hotel-riviere.com", "hotel", "Saint-Ambrose", 1998, "Camille Laurent"),
    ("harbor-inn", "The Harbor Inn", "harborinn-portellery.com", "hotel", "Port Ellery", 1976, "Eleanor Mayhew"),
    ("alpenhof", "Gasthof Alpenhof", "www.alpenhof-hotel.info", "hotel", "Pinecrest", 2005, "Lukas Grüber"),
    ("meridian-suites", "Meridian Suites", "meridiansuites.net", "hotel", "Harbor City", 2016, "Amara Osei"),
    # fitness
    ("ironclad-gym", "Ironclad Strength & Fitness", "www.ironcladgym.com", "fitness_gym", "Bramford", 2012, "Jake Morrison"),
    ("pulse-fitness", "Pulse Fitness Club", "pulsefitnessclub.net", "fitness_gym", "Harbor City", 2008, "Serena Wolfe"),
    ("kinetic-studio", "Kinetic Movement Studio", "www.kineticstudio.site", "fitness_gym", "Fairhaven", 2019, "Noor Hassan"),
    ("barbell-barn", "The Barbell Barn", "barbellbarn.us", "fitness_gym", "Cottonwood Junction", 2015, "Cody Harlan"),
]
