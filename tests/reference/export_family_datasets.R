# Export the data sets of the family references (negative binomial,
# Gamma, beta, ordinal): salamanders, owls, cake, seatbelts, wine, soup.
#
# Run from the repository root:
#
#     Rscript tests/reference/export_family_datasets.R
#
# Requires the R packages glmmTMB, lme4, AER, ordinal and jsonlite.

source(file.path("tests", "reference", "dataset_writer.R"))

## 1. salamanders ----------------------------------------------------------
sal <- glmmTMB::Salamanders
write_dataset(
  sal, "salamanders",
  title = "Salamander counts: 644 surveys of 23 streams, 7 species and life stages",
  source = paste(
    "R package glmmTMB, dataset Salamanders (Price, S. J., Muncy, B. L.,",
    "Bonner, S. J., Drayer, A. N. and Barton, C. D. (2016), 'Effects of",
    "mountaintop removal mining and valley filling on the occupancy and",
    "abundance of stream salamanders', Journal of Applied Ecology 53, 459-468)"),
  description = paste(
    "Repeated counts of stream salamanders at 23 sites in Appalachia, 4 surveys",
    "per site and species, sites affected or not by mountaintop removal mining.",
    "The glmmTMB example of negative binomial and zero-inflated GLMMs."),
  columns = c(
    site = "Stream site (factor, 23 levels; ordered in R)",
    mined = "Affected by mountaintop removal mining (factor: yes, no)",
    cover = "Amount of cover objects in the stream (scaled)",
    sample = "Repeated survey number (1-4)",
    DOP = "Days since precipitation (scaled)",
    Wtemp = "Water temperature (scaled)",
    DOY = "Day of year (scaled)",
    spp = "Species / life stage (factor, 7 levels: GP, PR, DM, EC-A, EC-L, DES-L, DF)",
    count = "Number of salamanders observed"))

## 2. owls -----------------------------------------------------------------
owls <- glmmTMB::Owls
write_dataset(
  owls, "owls",
  title = "Begging by barn owl nestlings: 599 arrivals of a parent at 27 nests",
  source = paste(
    "R package glmmTMB, dataset Owls (Roulin, A. and Bersier, L. F. (2007),",
    "'Nestling barn owls beg more intensely in the presence of their mother",
    "than in the presence of their father', Animal Behaviour 74, 1099-1106;",
    "analysed in Zuur et al. (2009), Mixed Effects Models and Extensions in",
    "Ecology with R, Springer)"),
  description = paste(
    "Number of calls by the nestlings of a brood in the 30 s before a parent",
    "arrived, at 27 nests of barn owls, with food deprived or satiated the day",
    "before. The glmmTMB example of count GLMMs with an offset log(BroodSize)."),
  columns = c(
    Nest = "Nest (factor, 27 levels)",
    FoodTreatment = "Food treatment (factor: Deprived, Satiated)",
    SexParent = "Sex of the arriving parent (factor: Female, Male)",
    ArrivalTime = "Arrival time of the parent (hours; 24.5 is half past midnight)",
    SiblingNegotiation = "Number of calls by the nestlings (the response)",
    BroodSize = "Number of nestlings in the brood",
    NegPerChick = "SiblingNegotiation / BroodSize",
    logBroodSize = "log(BroodSize), the usual offset"))

## 3. cake -----------------------------------------------------------------
write_dataset(
  lme4::cake, "cake",
  title = "Breaking angle of chocolate cakes: 3 recipes x 6 temperatures x 15 replicates",
  source = paste(
    "R package lme4, dataset cake (Cook, F. E. (1938), Chocolate cake, I.",
    "Optimum baking temperature, Master's thesis, Iowa State College;",
    "Cochran, W. G. and Cox, G. M. (1957), Experimental Designs, Wiley)"),
  description = paste(
    "Breaking angle (degrees) of slices of cake, from a split-plot experiment:",
    "each of 15 replicate batches of each of 3 recipes was split into 6 cakes",
    "baked at different temperatures. The grouping is recipe:replicate (45 batches)."),
  columns = c(
    replicate = "Replicate (factor, 15 levels)",
    recipe = "Recipe (factor: A, B, C)",
    temperature = "Baking temperature (ordered factor: 175 to 225 degrees F)",
    angle = "Angle at which the slice broke (degrees; positive)",
    temp = "Baking temperature as a number (degrees F)"))

## 4. seatbelts ------------------------------------------------------------
data("USSeatBelts", package = "AER", envir = environment())
sb <- USSeatBelts[!is.na(USSeatBelts$seatbelt), ]
write_dataset(
  sb, "seatbelts",
  title = "Seat belt usage rates in 51 US states, 1983-1997 (556 state-years observed)",
  source = paste(
    "R package AER, dataset USSeatBelts (Cohen, A. and Einav, L. (2003), 'The",
    "effects of mandatory seat belt laws on driving behavior and traffic",
    "fatalities', Review of Economics and Statistics 85, 828-843); the rows",
    "with an observed usage rate"),
  description = paste(
    "State-level seat belt usage rates (a proportion strictly between 0 and 1)",
    "with the state's traffic laws, per state and year. A beta GLMM example:",
    "usage ~ laws + (1 | state)."),
  columns = c(
    state = "State (factor, 51 levels)",
    year = "Year (factor, 1983-1997)",
    miles = "Traffic (millions of miles)",
    fatalities = "Fatalities per million miles",
    seatbelt = "Seat belt usage rate (proportion)",
    speed65 = "65 mph speed limit (factor: no, yes)",
    speed70 = "70 mph or higher speed limit (factor: no, yes)",
    drinkage = "Minimum drinking age of 21 (factor: no, yes)",
    alcohol = "Maximum blood alcohol content of 0.08 (factor: no, yes)",
    income = "Median per capita income (USD)",
    age = "Mean age",
    enforce = "Seat belt law enforcement (factor: no, primary, secondary)"))

## 5. wine, soup (ordinal responses) ------------------------------------------
write_dataset(
  ordinal::wine, "wine",
  title = "Bitterness of wine: 72 ratings by 9 judges of 8 wines (2 temperatures x 2 contacts)",
  source = paste(
    "R package ordinal, dataset wine (Randall, J. (1989), 'The analysis of",
    "sensory data by generalised linear model', Biometrical Journal 7, 781-793)"),
  description = paste(
    "Each of 9 judges rated the bitterness of 8 wines (2 bottles of each of",
    "4 treatments: temperature cold or warm, contact with skin no or yes) on",
    "a 5-point scale. The ordinal::clmm example of a cumulative link mixed",
    "model: rating ~ temp + contact + (1 | judge)."),
  columns = c(
    response = "Bitterness on a continuous 0-100 scale",
    rating = "Bitterness rating (ordered factor, 1 < 2 < 3 < 4 < 5)",
    temp = "Temperature at crushing (factor: cold, warm)",
    contact = "Contact of juice with skin (factor: no, yes)",
    bottle = "Bottle (factor, 8 levels)",
    judge = "Judge (factor, 9 levels)"))

write_dataset(
  ordinal::soup, "soup",
  title = "Discrimination of soups: 1,847 sureness ratings by 185 respondents",
  source = paste(
    "R package ordinal, dataset soup (Christensen, R. H. B., Cleaver, G. and",
    "Brockhoff, P. B. (2011), 'Statistical and Thurstonian models for the A-not",
    "A protocol with and without sureness', Food Quality and Preference 22, 542-549)"),
  description = paste(
    "Respondents tasted reference and test soups and rated how sure they were",
    "that a sample was the reference, on a 6-point scale (1: sure it is the",
    "reference ... 6: sure it is not). An ordinal probit mixed model example:",
    "SURENESS ~ PROD + (1 | RESP)."),
  columns = c(
    RESP = "Respondent (factor, 185 levels)",
    PROD = "Product tasted (factor: Ref, Test)",
    PRODID = "Product identity (factor, 6 levels)",
    SURENESS = "Sureness rating (ordered factor, 1 < ... < 6)",
    DAY = "Day of testing (factor: 1, 2)",
    SOUPTYPE = "Type of soup usually eaten (factor)",
    SOUPFREQ = "How often soup is eaten (factor)",
    COLD = "Has a cold (factor: No, Yes)",
    EASY = "How easy the task was (factor, 1-10)",
    GENDER = "Gender (factor: Male, Female)",
    AGEGROUP = "Age group (factor)",
    LOCATION = "Location (factor, 3 regions)"))
