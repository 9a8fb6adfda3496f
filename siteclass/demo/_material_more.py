"""More hand-written lines per industry, merged into the main pools so sites of one industry share fewer sentences."""

from __future__ import annotations

MORE: dict[str, dict[str, list[str]]] = {
    "plumbing": {
        "intro": [
            "Hear water running in the walls when every tap is off? Our acoustic leak detection finds it without tearing out drywall.",
            "Kitchen remodel on the way? We rough in supply and drain lines so the cabinet installer is not left waiting.",
            "Senior citizens and veterans receive ten percent off every repair ticket.",
            "A clogged main line is an emergency; we treat it like one, even on holidays.",
            "Our trucks are stocked with shut-off valves, P-traps, flappers and supply hoses for the common fixes.",
            "Ask about a yearly maintenance plan: water heater flush, drain treatment and a whole-house inspection.",
        ],
        "about": [
            "We pull permits for the work that needs them, and we are not shy about telling you which work does.",
            "Our dispatcher tracks every van, so we can tell you when the plumber is ten minutes away.",
            "The cheapest fix is the leak found early, so we check the visible supply lines on every call at no charge.",
        ],
    },
    "bakery": {
        "intro": [
            "Pre-order a loaf by text the night before and it will be waiting on the shelf with your name on it.",
            "The morning bun — laminated dough, orange sugar, a crackly caramel bottom — has a following of its own.",
            "We are closed on Mondays so the dough can rest, and so can we.",
            "Rye and spelt sourdough are made with flour stone-ground at a mill two valleys over.",
            "Our focaccia is dimpled with olive oil, sea salt and rosemary from the pots by the door.",
            "Sandwiches at lunch are built on the bread we baked that morning.",
        ],
        "about": [
            "Our flour comes in fifty-pound sacks from a cooperative of family farms.",
            "The deck oven was shipped from France and took four people and a forklift to install.",
            "Apprentice bakers learn to shape by feel before they ever use a scale.",
        ],
    },
    "law_firm": {
        "intro": [
            "If you were injured at work, the workers’ compensation system has deadlines that begin the day you are hurt.",
            "Our trial team prepares every case as though it will go to a jury, which is why insurers take our demands seriously.",
            "Virtual consultations are available for clients who cannot travel to our office.",
            "We draft commercial leases, supplier contracts and employee handbooks for small businesses.",
            "Guardianship and elder law matters are handled by attorneys who understand the needs of ageing parents.",
            "Fee arrangements are explained in writing at our first meeting.",
        ],
        "about": [
            "Our associates clerked for state appellate judges before joining the firm.",
            "We return every client call within one business day.",
            "A settlement is only a good result if the client understands it and agrees with it.",
        ],
    },
    "dental_clinic": {
        "intro": [
            "Bleeding gums are not normal; our periodontal program can stop gum disease before it costs you teeth.",
            "We offer an in-house membership plan for patients without dental insurance.",
            "Sleep apnea appliances and snoring guards are fitted in cooperation with local sleep physicians.",
            "Sedation dentistry lets anxious patients complete several treatments in one relaxed visit.",
            "Our intraoral cameras let you see the cracked filling or the tartar on the screen beside your chair.",
            "Sealants on children’s molars prevent most cavities on chewing surfaces.",
        ],
        "about": [
            "We see patients from toddlers to great-grandparents, often several generations of one family.",
            "Our hygienists are licensed to administer local anaesthetic, so deep cleanings are comfortable.",
            "Chairside manner matters to us as much as clinical skill.",
        ],
    },
    "accounting": {
        "intro": [
            "Behind on filing? We prepare late returns for several years at once and negotiate with the tax agency on penalties.",
            "Payroll for twenty employees takes a few clicks once we set it up for you.",
            "Our advisory clients receive a one-page dashboard every month: cash, receivables, payables and margin.",
            "Selling your business? We prepare the financial package buyers and lenders expect.",
            "Dental practices, veterinary clinics and law firms appreciate our knowledge of professional corporations.",
            "Crypto trades, stock options and rental properties do not scare us.",
        ],
        "about": [
            "Every return is reviewed by a second accountant before it is filed.",
            "We answer tax questions year round, not only between January and April.",
            "Our fee schedule is published on request so there are no surprises at the end of the engagement.",
        ],
    },
    "trucking": {
        "intro": [
            "Shippers receive an automated email with proof of delivery within an hour of unloading.",
            "Our tractors are governed at sixty-five miles per hour, which saves fuel and lowers accident risk.",
            "Seasonal surge capacity for retailers during the holiday peak.",
            "Cross-border freight to Canada with bonded drivers and pre-cleared paperwork.",
            "Team loads, power-only moves and trailer pools for manufacturers.",
            "Carrier packet, W-9 and certificate of insurance available for download by approved shippers.",
        ],
        "about": [
            "Our safety director reviews every dash-camera event with the driver involved, as coaching rather than punishment.",
            "Owner-operators leased to us keep ninety percent of the linehaul.",
            "Maintenance records for every unit are kept for the life of the truck.",
        ],
    },
    "software": {
        "intro": [
            "Our status page publishes uptime for every region, and we write a public postmortem after any incident.",
            "Import your existing data from spreadsheets in an afternoon with our guided migration tool.",
            "A command-line interface and Terraform provider for teams that manage infrastructure as code.",
            "Granular permissions let contractors see only the projects they work on.",
            "GDPR-ready: data residency in the EU or the US, and a signed data processing agreement.",
            "Keyboard shortcuts, dark mode and a search box that finds anything in milliseconds.",
        ],
        "about": [
            "We publish our salaries and our engineering handbook.",
            "Four-day work weeks in August keep the team rested.",
            "Every new hire ships something to production in their first week.",
        ],
    },
    "restaurant": {
        "intro": [
            "Tuesday is dumpling night; Thursday brings a three-course prix fixe for thirty-five dollars.",
            "Our bartenders press citrus to order and make their own bitters and syrups.",
            "Tell us about allergies when you book; the kitchen keeps a separate fryer for gluten-free dishes.",
            "Gift certificates and gift boxes of our house hot sauce are sold at the host stand.",
            "The chef’s counter seats eight guests in front of the open kitchen for a tasting menu.",
            "Late-night menu at the bar until midnight on Fridays and Saturdays.",
        ],
        "about": [
            "Our line cooks rotate through every station, from garde manger to the grill.",
            "We bake our own bread and cure our own bacon.",
            "Most of the dining room furniture was built by a local woodworker from reclaimed barn timber.",
        ],
    },
    "construction": {
        "intro": [
            "Our scheduling software shares a three-week look-ahead with every subcontractor on the job.",
            "Structural steel, tilt-up panels and cast-in-place concrete for industrial clients.",
            "Owners receive a monthly pay application with photos and a cost-to-complete report.",
            "We build clinics, dental offices and veterinary hospitals with the lead-lined walls and plumbing they need.",
            "Storm damage? Our emergency team can board up, dry out and rebuild.",
            "Bonded for public works projects, including schools and municipal buildings.",
        ],
        "about": [
            "Our safety program includes weekly toolbox talks and a full-time safety officer.",
            "We keep a shared punch list with owners and architects in real time.",
            "Long-term relationships with local trades mean our subcontractors answer our calls first.",
        ],
    },
    "real_estate": {
        "intro": [
            "Sellers get a weekly report with showing feedback, online views and comparable new listings.",
            "Pre-listing inspections help sellers fix problems before buyers find them.",
            "Our agents preview homes in person before recommending them, so you do not waste a Saturday.",
            "Bidding war? We know how to write an escalation clause that protects you.",
            "Homes near the best elementary schools rarely stay on the market more than a week.",
            "We coordinate lenders, inspectors, appraisers and title companies so your closing stays on schedule.",
        ],
        "about": [
            "Our agents average more than twelve years of experience.",
            "We cap the number of clients each agent represents at once.",
            "Our brokerage donates part of every commission to the local housing trust.",
        ],
    },
    "auto_repair": {
        "intro": [
            "Digital vehicle inspections with photos and notes arrive by text before we touch a wrench.",
            "Timing belts, water pumps and head gaskets are big jobs, and we quote them honestly.",
            "Advanced driver-assistance cameras and radar are recalibrated after windshield or bumper work.",
            "Towing partners bring breakdowns straight to our lot, day or night.",
            "We match dealer-recommended maintenance schedules without dealer prices.",
            "Rust-proofing and undercoating before the salt trucks come out.",
        ],
        "about": [
            "Our lead technician is an ASE Master Technician with an L1 advanced engine performance certification.",
            "We will never recommend a fluid flush your owner’s manual does not call for.",
            "The shop is spotless because a clean bay is a safe bay.",
        ],
    },
    "hair_salon": {
        "intro": [
            "New clients receive a complimentary deep-conditioning treatment with their first colour service.",
            "Our stylists are trained in fine and thinning hair, with cuts that build the look of volume.",
            "Extensions — tape-in, hand-tied and clip-in — matched to your colour and texture.",
            "Prom and homecoming updos by appointment; book early for the spring rush.",
            "A cancellation list texts you when a prime Saturday slot opens up.",
            "Eyebrow shaping, lash tints and waxing in our treatment room.",
        ],
        "about": [
            "We believe a great cut should grow out well and look good on the day you style it yourself.",
            "Every chair has its own station mirror, light and heated towel.",
            "Our colour bar weighs every formula so your shade is repeatable visit after visit.",
        ],
    },
    "veterinary_clinic": {
        "intro": [
            "Puppy socialisation classes meet on Saturday mornings in our training room.",
            "Boarding and grooming for current patients, with medication given by our technicians.",
            "Pet health insurance questions? Our team will help you submit claims.",
            "Laser surgery reduces bleeding and swelling after routine procedures.",
            "Heartworm testing and prevention year round.",
            "Our doctors can see your pet by video for follow-ups and behaviour concerns.",
        ],
        "about": [
            "We consider ourselves your pet’s family doctors.",
            "Our technicians hold national certification and specialise in anaesthesia and dentistry.",
            "Every surgical patient is monitored by a dedicated technician from induction to recovery.",
        ],
    },
    "landscaping": {
        "intro": [
            "Pollinator meadows replace thirsty turf on corporate campuses and church grounds.",
            "Our design consultation includes a soil test and a sun-and-shade map of your yard.",
            "Spring bulb plantings and colourful annual rotations for shopfronts and office parks.",
            "Mosquito and tick barrier treatments with botanical products.",
            "Firewood, compost and topsoil delivered by the cubic yard.",
            "Retaining wall failing? We rebuild with proper drainage stone and geogrid.",
        ],
        "about": [
            "Our crews are year-round employees, not seasonal temps.",
            "We are certified in interlocking concrete paver installation.",
            "We water new plantings for the first month as part of every installation.",
        ],
    },
    "hotel": {
        "intro": [
            "Every room has a rain shower, a minibar stocked with local products and a Nespresso machine.",
            "Electric vehicle chargers in the garage for hotel guests.",
            "Afternoon tea in the lounge from three to five, with scones baked in house.",
            "Accessible rooms with roll-in showers on every floor.",
            "Ask about our ski packages, wine-country tours and romantic weekend offers.",
            "Check-in from three, check-out at eleven; luggage storage is free.",
        ],
        "about": [
            "Our concierge has lived in town for thirty years and knows every hidden courtyard.",
            "Linens are changed on request to save water and energy.",
            "Artworks in the corridors are by painters from the region and are for sale.",
        ],
    },
    "fitness_gym": {
        "intro": [
            "InBody scans every eight weeks show the muscle you gain, not just the weight you lose.",
            "Our turf lane is perfect for sled pushes, sprints and carries.",
            "Student, senior and military memberships at a reduced rate.",
            "Indoor cycling studio with a sound system that makes climbs feel like a concert.",
            "Pre- and post-natal coaching by trainers with specialist certification.",
            "Bring a friend for free on the first Saturday of every month.",
        ],
        "about": [
            "We have no mirrors in the group studio because we want you to feel the movement, not watch it.",
            "Coaches write programs with physical therapists for members returning from injury.",
            "We are proud to be a judgement-free space for every body.",
        ],
    },
}
